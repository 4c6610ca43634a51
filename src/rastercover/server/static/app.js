/* rastercover's web page: catalogue, map of footprints and previews, export form.
 *
 * Data comes from the JSON API: GET /coverages (id, title, bounds_wgs84 [w, s, e, n], crs {label, ...},
 * width, height, bands; "available": false and a "problem" for an entry whose source cannot be read: listed,
 * greyed out, not offered for export) and GET /layers (id, title). An API key given in the page's URL (?api_key=...) is
 * added to every request the page makes. No external resources: Leaflet is served from /static/leaflet, and the map has no
 * base layer.
 */
(function () {
  "use strict";

  var root = document.body.getAttribute("data-root") || "";
  var apiKey = new URLSearchParams(window.location.search).get("api_key");
  var coverages = {};
  var footprints = {};

  function url(path, params) {
    var q = new URLSearchParams(params || {});
    if (apiKey) q.set("api_key", apiKey);
    var s = q.toString();
    return root + path + (s ? "?" + s : "");
  }

  function el(tag, attrs, text) {
    var e = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function message(text, isError) {
    var m = document.getElementById("message");
    m.textContent = text || "";
    m.className = "message" + (isError ? " error" : "");
  }

  function getJSON(path) {
    return fetch(url(path), { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (p) {
          throw new Error(path + ": " + (p.detail || p.title || r.status + " " + r.statusText));
        });
      }
      return r.json();
    });
  }

  function asList(data, key) {
    if (Array.isArray(data)) return data;
    if (data && Array.isArray(data[key])) return data[key];
    return [];
  }

  // ------------------------------------------------------------------ map
  var map = L.map("map", { worldCopyJump: true, attributionControl: false }).setView([20, 0], 2);
  L.control.scale({ imperial: false }).addTo(map);

  function selectCoverage(id) {
    var select = document.getElementById("coverage");
    select.value = id;
    select.dispatchEvent(new Event("change"));
  }

  function highlight(id) {
    Object.keys(footprints).forEach(function (k) {
      footprints[k].setStyle(k === id ? { color: "#d94801", weight: 3 } : { color: "#3388ff", weight: 2 });
    });
    document.querySelectorAll("#coverages li").forEach(function (li) {
      li.classList.toggle("selected", li.getAttribute("data-id") === id);
    });
  }

  // the API's crs is {label, epsg, wkt}; a plain string is shown as it is
  function crsLabel(c) {
    if (!c || !c.crs) return "";
    return typeof c.crs === "object" ? c.crs.label || "" : String(c.crs);
  }

  function addUnavailable(listId, c) {
    var li = el("li", { "data-id": c.id, "class": "unavailable" });
    li.appendChild(el("strong", {}, c.title || c.id));
    li.appendChild(el("div", { "class": "muted" }, c.id + " · unavailable: " + (c.problem || "cannot be read")));
    document.getElementById(listId).appendChild(li);
  }

  function addCoverage(c) {
    if (c.available === false) {
      addUnavailable("coverages", c);
      return null;
    }
    coverages[c.id] = c;
    var li = el("li", { "data-id": c.id });
    li.appendChild(el("strong", {}, c.title || c.id));
    var bands = Array.isArray(c.bands) ? c.bands.length : c.bands;
    var facts = [c.id, crsLabel(c), c.width && c.height ? c.width + " × " + c.height + " px" : "",
      bands ? bands + " band" + (bands > 1 ? "s" : "") : ""].filter(Boolean).join(" · ");
    li.appendChild(el("div", { "class": "muted" }, facts));
    li.addEventListener("click", function () { selectCoverage(c.id); });
    document.getElementById("coverages").appendChild(li);
    document.getElementById("coverage").appendChild(el("option", { value: c.id }, c.title || c.id));

    var b = c.bounds_wgs84;
    if (!Array.isArray(b) || b.length !== 4 || !b.every(isFinite)) return null;
    var bounds = L.latLngBounds([b[1], b[0]], [b[3], b[2]]);
    L.imageOverlay(url("/coverages/" + encodeURIComponent(c.id) + "/preview.png"), bounds,
      { opacity: 0.85, alt: "preview of " + c.id }).addTo(map);
    var rect = L.rectangle(bounds, { color: "#3388ff", weight: 2, fill: true, fillOpacity: 0 })
      .bindTooltip(c.title || c.id)
      .addTo(map);
    rect.on("click", function () { if (!drawing) selectCoverage(c.id); });
    footprints[c.id] = rect;
    return bounds;
  }

  // ------------------------------------------------------------------ bbox drawn on the map
  var drawing = false;
  var firstCorner = null;
  var drawn = null;

  function setDrawing(on) {
    drawing = on;
    firstCorner = null;
    document.getElementById("draw-hint").hidden = !on;
    document.getElementById("draw").textContent = on ? "Cancel drawing" : "Draw on the map";
    document.getElementById("map").classList.toggle("drawing", on);
  }

  function showBox(bounds) {
    if (drawn) map.removeLayer(drawn);
    drawn = bounds ? L.rectangle(bounds, { color: "#d94801", weight: 2, dashArray: "4 4", interactive: false })
      .addTo(map) : null;
  }

  function round(v) { return Math.round(v * 1e6) / 1e6; }

  map.on("click", function (e) {
    if (!drawing) return;
    var p = e.latlng.wrap();
    if (!firstCorner) {
      firstCorner = p;
      showBox(L.latLngBounds(p, p));
      return;
    }
    var box = L.latLngBounds(firstCorner, p);
    showBox(box);
    document.getElementById("bbox").value = [box.getWest(), box.getSouth(), box.getEast(), box.getNorth()]
      .map(round).join(",");
    document.getElementById("bbox_crs").value = "EPSG:4326";
    setDrawing(false);
  });

  document.getElementById("draw").addEventListener("click", function () { setDrawing(!drawing); });
  document.getElementById("clear-bbox").addEventListener("click", function () {
    document.getElementById("bbox").value = "";
    document.getElementById("bbox_crs").value = "";
    showBox(null);
    setDrawing(false);
  });

  // ------------------------------------------------------------------ form
  document.getElementById("coverage").addEventListener("change", function () {
    var c = coverages[this.value];
    document.getElementById("bbox-crs-coverage").textContent =
      "the coverage's CRS" + (crsLabel(c) ? " (" + crsLabel(c) + ")" : "");
    highlight(this.value);
  });

  function exportParams() {
    var p = {};
    var f = function (id) { return document.getElementById(id).value.trim(); };
    p.format = f("format");
    var bbox = f("bbox");
    if (bbox) {
      var nums = bbox.split(/[\s,;]+/).filter(Boolean).map(Number);
      if (nums.length !== 4 || !nums.every(isFinite)) {
        throw new Error("the bounding box needs 4 numbers: xmin, ymin, xmax, ymax");
      }
      if (!(nums[0] < nums[2] && nums[1] < nums[3])) {
        throw new Error("the bounding box needs xmin < xmax and ymin < ymax");
      }
      p.bbox = nums.join(",");
      if (f("bbox_crs")) p.bbox_crs = f("bbox_crs");
    }
    var layer = f("clip_layer");
    var fid = f("clip_id");
    if (layer || fid) {
      if (!layer || !fid) throw new Error("a clip needs both a layer and a feature id");
      p.clip_layer = layer;
      p.clip_id = fid;
    }
    var buffer = f("buffer");
    if (buffer) {
      if (!isFinite(Number(buffer))) throw new Error("the buffer must be a number");
      p.buffer = buffer;
    }
    if (document.getElementById("envelope").checked) p.envelope = "true";
    return p;
  }

  document.getElementById("export-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var id = document.getElementById("coverage").value;
    if (!id) { message("choose a coverage", true); return; }
    var params;
    try {
      params = exportParams();
    } catch (err) {
      message(err.message, true);
      return;
    }
    message("exporting " + id + "… the download starts when the file is ready");
    // A navigation, not a fetch: the browser streams the attachment to disk.
    window.location.href = url("/coverages/" + encodeURIComponent(id) + "/export", params);
  });

  // ------------------------------------------------------------------ load the catalogue
  Promise.all([getJSON("/coverages"), getJSON("/layers")]).then(function (res) {
    var covs = asList(res[0], "coverages");
    var layers = asList(res[1], "layers");
    var list = document.getElementById("coverages");
    list.textContent = "";
    var all = null;
    covs.forEach(function (c) {
      var b = addCoverage(c);
      if (b) all = all ? all.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
    });
    if (!covs.length) list.appendChild(el("li", { "class": "muted" }, "no coverage"));
    if (all) map.fitBounds(all, { padding: [20, 20] });

    var llist = document.getElementById("layers");
    llist.textContent = "";
    layers.forEach(function (l) {
      if (l.available === false) {
        addUnavailable("layers", l);
        return;
      }
      var li = el("li", { "data-id": l.id });
      li.appendChild(el("strong", {}, l.title || l.id));
      li.appendChild(el("div", { "class": "muted" }, l.id));
      llist.appendChild(li);
      document.getElementById("clip_layer").appendChild(el("option", { value: l.id }, l.title || l.id));
    });
    if (!layers.length) llist.appendChild(el("li", { "class": "muted" }, "no layer"));
    var usable = covs.filter(function (c) { return c.available !== false; });
    if (usable.length) selectCoverage(usable[0].id);
  }).catch(function (err) {
    message("cannot load the catalogue: " + err.message, true);
  });
})();
