/* rastercover's web page: catalogue, map of footprints, previews and vector layers, export form with progress.
 *
 * Data comes from the JSON API: GET /coverages (id, title, bounds_wgs84 [w, s, e, n], crs {label, ...},
 * width, height, bands; "available": false and a "problem" for an entry whose source cannot be read: listed,
 * greyed out, not offered for export), GET /layers (id, title) and GET /layers/{id}/features (a layer's first
 * features as GeoJSON in lon/lat, each with the id an export's clip_id takes: drawn when its box is ticked;
 * clicking a feature chooses it as the clip). An export is asked for as a job (Prefer: respond-async): the page
 * polls /jobs/{id}, shows its progress, then downloads /jobs/{id}/result. An API key given in the page's URL
 * (?api_key=...) is added to every request the page makes. No external resources: Leaflet is served from
 * /static/leaflet, and the map has no base layer.
 */
(function () {
  "use strict";

  var root = document.body.getAttribute("data-root") || "";
  var apiKey = new URLSearchParams(window.location.search).get("api_key");
  var coverages = {};
  var footprints = {};
  var layers = {};

  function url(path, params) {
    var q = new URLSearchParams(params || {});
    if (apiKey) q.set("api_key", apiKey);
    var s = q.toString();
    return root + path + (s ? "?" + s : "");
  }

  // a link the API gave (it holds the root path already), with the API key added
  function linkUrl(href) {
    if (!apiKey) return href;
    return href + (href.indexOf("?") < 0 ? "?" : "&") + "api_key=" + encodeURIComponent(apiKey);
  }

  function problemText(r, p) {
    return p.detail || p.title || r.status + " " + r.statusText;
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

  function getJSON(path, isLink) {
    return fetch(isLink ? linkUrl(path) : url(path), { headers: { Accept: "application/json" } }).then(function (r) {
      if (!r.ok) {
        return r.json().catch(function () { return {}; }).then(function (p) {
          throw new Error(path + ": " + problemText(r, p));
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
    document.getElementById("clip-coverages").appendChild(el("option", { value: c.id }, c.title || c.id));

    var b = c.bounds_wgs84;
    if (!Array.isArray(b) || b.length !== 4 || !b.every(isFinite)) return null;
    // a coverage across the antimeridian has east < west: draw it eastwards past 180 rather than round the world
    var bounds = L.latLngBounds([b[1], b[0]], [b[3], b[2] < b[0] ? b[2] + 360 : b[2]]);
    L.imageOverlay(url("/coverages/" + encodeURIComponent(c.id) + "/preview.png"), bounds,
      { opacity: 0.85, alt: "preview of " + c.id }).addTo(map);
    var rect = L.rectangle(bounds, { color: "#3388ff", weight: 2, fill: true, fillOpacity: 0 })
      .bindTooltip(c.title || c.id)
      .addTo(map);
    rect.on("click", function () { if (!drawing) selectCoverage(c.id); });
    footprints[c.id] = rect;
    return bounds;
  }

  // ------------------------------------------------------------------ vector layers drawn on the map
  var LAYER_STYLE = { color: "#7b2cbf", weight: 2, fillOpacity: 0.15, className: "layer-feature" };

  function chooseClip(layerId, featureId) {
    document.getElementById("clip_layer").value = layerId;
    document.getElementById("clip_id").value = featureId === null || featureId === undefined ? "" : String(featureId);
    message("clip: feature " + featureId + " of " + layerId);
  }

  // a longitude moved by whole turns to within 180 degrees of the map's centre (data near the antimeridian
  // then lines up with the coverages drawn there, instead of being drawn on the far side of the world)
  function nearCentre(lng, centre) {
    return lng + 360 * Math.round((centre - lng) / 360);
  }

  function drawLayer(l, on, note) {
    var entry = layers[l.id];
    if (!on) {
      if (entry.overlay) map.removeLayer(entry.overlay);
      return;
    }
    if (entry.overlay) {
      entry.overlay.addTo(map);
      return;
    }
    note.textContent = "loading…";
    getJSON("/layers/" + encodeURIComponent(l.id) + "/features").then(function (fc) {
      var centre = map.getCenter().lng;
      entry.overlay = L.geoJSON(fc, {
        coordsToLatLng: function (c) { return L.latLng(c[1], nearCentre(c[0], centre)); },
        style: function () { return LAYER_STYLE; },
        pointToLayer: function (f, latlng) { return L.circleMarker(latlng, { radius: 5, className: "layer-feature" }); },
        onEachFeature: function (f, layer) {
          layer.bindTooltip((l.title || l.id) + " · id " + f.id);
          layer.on("click", function (e) {
            if (drawing) return;
            L.DomEvent.stopPropagation(e);
            chooseClip(l.id, f.id);
          });
        }
      });
      var n = fc.features.length;
      note.textContent = n + " feature" + (n === 1 ? "" : "s") + " drawn" + (fc.truncated ? " (the first ones only)" : "");
      if (document.getElementById("show-" + l.id).checked) entry.overlay.addTo(map);
    }).catch(function (err) {
      note.textContent = "";
      message("cannot draw " + l.id + ": " + err.message, true);
    });
  }

  function addLayer(l) {
    layers[l.id] = { layer: l, overlay: null };
    var li = el("li", { "data-id": l.id });
    var label = el("label", {});
    var box = el("input", { type: "checkbox", id: "show-" + l.id });
    label.appendChild(box);
    label.appendChild(document.createTextNode(" "));
    label.appendChild(el("strong", {}, l.title || l.id));
    li.appendChild(label);
    var facts = [l.id, l.geometry_type || "", typeof l.feature_count === "number" ? l.feature_count + " features" : ""];
    li.appendChild(el("div", { "class": "muted count" }, facts.filter(Boolean).join(" · ")));
    var note = el("div", { "class": "muted count note" });
    li.appendChild(note);
    box.addEventListener("change", function () { drawLayer(l, box.checked, note); });
    document.getElementById("layers").appendChild(li);
    document.getElementById("clip-layers").appendChild(el("option", { value: l.id }, l.title || l.id));
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
      if (!layer) throw new Error("a feature id needs its layer");
      if (!fid && !coverages[layer]) throw new Error("a clip by a layer needs a feature id");
      p.clip_layer = layer;
      if (fid) p.clip_id = fid;
    }
    var buffer = f("buffer");
    if (buffer) {
      if (!isFinite(Number(buffer))) throw new Error("the buffer must be a number");
      p.buffer = buffer;
    }
    if (document.getElementById("envelope").checked) p.envelope = "true";
    if (document.getElementById("per_tile").checked) p.per_tile = "true";
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
    exportAsJob(id, params);
  });

  // ------------------------------------------------------------------ an export as a job, with its progress
  var bar = document.getElementById("progress");
  var button = document.getElementById("download");

  function finish(text, isError) {
    button.disabled = false;
    bar.hidden = isError || bar.hidden;
    message(text, isError);
  }

  function follow(id, job) {
    var p = job.progress || {};
    bar.hidden = false;
    bar.value = job.status === "successful" ? 100 : p.percent || 0;
    if (job.status === "successful") {
      finish("exported " + id + ": " + ((job.result || {}).filename || "the file") + " downloads");
      // a navigation, not a fetch: the browser streams the attachment to disk
      window.location.href = linkUrl(job.links.result);
      return;
    }
    if (job.status === "failed" || job.status === "dismissed") {
      finish("the export of " + id + " " + job.status + ": " + ((job.error || {}).detail || "no reason given"), true);
      return;
    }
    message("exporting " + id + "… " + (p.percent || 0) + " % (" + (p.done || 0) + " of " + (p.total || "?") +
      " chunks)");
    window.setTimeout(function () {
      getJSON(job.links.self, true).then(function (next) { follow(id, next); }).catch(function (err) {
        finish(err.message, true);
      });
    }, 300);
  }

  function exportAsJob(id, params) {
    button.disabled = true;
    bar.value = 0;
    bar.hidden = false;
    message("exporting " + id + "…");
    var headers = { Accept: "application/json", Prefer: "respond-async" };
    fetch(url("/coverages/" + encodeURIComponent(id) + "/export", params), { headers: headers }).then(function (r) {
      if (r.status === 202) return r.json().then(function (job) { follow(id, job); });
      return r.json().catch(function () { return {}; }).then(function (p) {
        finish("cannot export " + id + ": " + problemText(r, p), true);
      });
    }).catch(function (err) {
      finish("cannot export " + id + ": " + err.message, true);
    });
  }

  // ------------------------------------------------------------------ load the catalogue
  Promise.all([getJSON("/coverages"), getJSON("/layers")]).then(function (res) {
    var covs = asList(res[0], "coverages");
    var layerList = asList(res[1], "layers");
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
    layerList.forEach(function (l) {
      if (l.available === false) {
        addUnavailable("layers", l);
        return;
      }
      addLayer(l);
    });
    if (!layerList.length) llist.appendChild(el("li", { "class": "muted" }, "no layer"));
    var usable = covs.filter(function (c) { return c.available !== false; });
    if (usable.length) selectCoverage(usable[0].id);
  }).catch(function (err) {
    message("cannot load the catalogue: " + err.message, true);
  });
})();
