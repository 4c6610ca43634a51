"""The web page (server/page.py): HTML with local resources only, static files, previews, and a browser run."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest
import rasterio
from affine import Affine

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

from fastapi import FastAPI
from fastapi.testclient import TestClient

from rastercover.server.app import create_app
from rastercover.server.catalog import Catalog
from rastercover.server.settings import Settings
from tests.live_server import serve_in_thread


def make_catalog(tmp_path) -> Catalog:
    d = tmp_path / "data"
    d.mkdir()
    rng = np.random.default_rng(0)
    with rasterio.open(
        d / "dem.tif", "w", driver="GTiff", width=600, height=300, count=1, dtype="float32", nodata=-9999,
        crs="EPSG:32198", transform=Affine(30, 0, -300000, 0, -30, 300000), tiled=True, blockxsize=128,
        blockysize=128,
    ) as ds:  # fmt: skip
        ds.write(rng.uniform(0, 500, (1, 300, 600)).astype("float32"))
    with rasterio.open(
        d / "ortho.tif", "w", driver="GTiff", width=200, height=100, count=3, dtype="uint8",
        crs="EPSG:4326", transform=Affine(0.01, 0, -72, 0, -0.01, 47),
    ) as ds:  # fmt: skip
        ds.write(rng.integers(0, 255, (3, 100, 200)).astype("uint8"))
    import geopandas as gpd
    from shapely.geometry import box

    gpd.GeoDataFrame({"name": ["a"]}, geometry=[box(-72, 46.5, -71.5, 47)], crs="EPSG:4326").to_file(
        d / "zones.gpkg", driver="GPKG"
    )
    return Catalog.from_sources([d])


def make_app(catalog: Catalog, settings: Settings | None = None, **kwargs) -> FastAPI:
    """The real service (JSON API, export, WCS and the page), with fixed settings (none read from the environment)."""
    return create_app(catalog, settings or Settings(), **kwargs)


@pytest.fixture
def catalog(tmp_path) -> Catalog:
    return make_catalog(tmp_path)


@pytest.fixture
def client(catalog) -> TestClient:
    return TestClient(make_app(catalog))


def test_page_refers_to_local_resources_only(client):
    r = client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    page = r.text
    sources = re.findall(r'<(?:script|link|img)\b[^>]*\b(?:src|href)="([^"]*)"', page)
    assert "/static/leaflet/leaflet.js" in sources and "/static/app.js" in sources
    assert "/static/leaflet/leaflet.css" in sources and "/static/app.css" in sources
    for s in sources:
        assert not s.startswith(("http:", "https:", "//")), s
        assert s.startswith("/static/") or s.startswith("data:"), s
    assert "http://" not in page and "https://" not in page
    assert 'value="gtiff" selected' in page and 'value="cog"' in page  # the formats table
    assert "{{" not in page
    for resource in sources:
        if resource.startswith("/static/"):
            assert client.get(resource).status_code == 200, resource


def test_page_under_a_root_path(catalog):
    client = TestClient(make_app(catalog), root_path="/svc")
    page = client.get("/").text
    assert 'src="/svc/static/app.js"' in page and 'data-root="/svc"' in page


@pytest.mark.parametrize(
    ("path", "media"),
    [
        ("/static/leaflet/leaflet.js", "javascript"),
        ("/static/app.js", "javascript"),
        ("/static/leaflet/leaflet.css", "text/css"),
        ("/static/app.css", "text/css"),
        ("/static/leaflet/images/marker-icon.png", "image/png"),
        ("/static/leaflet/images/layers.png", "image/png"),
        ("/static/leaflet/LICENSE", None),
    ],
)
def test_static_files(client, path, media):
    r = client.get(path)
    assert r.status_code == 200 and r.content
    if media:
        assert media in r.headers["content-type"]


@pytest.mark.parametrize(
    "path",
    [
        "/static/../page.py",
        "/static/%2e%2e/page.py",
        "/static/..%2fpage.py",
        "/static/%2e%2e%2fpage.py",
        "/static/leaflet/../../catalog.py",
        "/static/%2e%2e/%2e%2e/__init__.py",
        "/static//etc/passwd",
        "/static/%2fetc%2fpasswd",
    ],
)
def test_static_refuses_path_traversal(client, path):
    r = client.get(path)
    assert r.status_code == 404
    assert b"import" not in r.content and b"root:" not in r.content


def test_preview_png(client):
    r = client.get("/coverages/dem/preview.png")
    assert r.status_code == 200 and r.headers["content-type"] == "image/png"
    assert r.content[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(r.content[16:20], "big"), int.from_bytes(r.content[20:24], "big")
    assert (width, height) == (300, 150)  # 600×300 in 512: a stride of 2
    assert "max-age" in r.headers["cache-control"]
    small = client.get("/coverages/ortho/preview.png?size=50")
    assert int.from_bytes(small.content[16:20], "big") == 50
    assert client.get("/coverages/ortho/preview.png?size=50").content == small.content  # cached
    assert client.get("/coverages/ortho/preview.png?size=5").status_code == 422


def test_preview_unknown_coverage_is_a_404_problem(client):
    r = client.get("/coverages/nope/preview.png")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")
    problem = r.json()
    assert set(problem) >= {"type", "title", "status", "detail"} and problem["status"] == 404
    assert "nope" in problem["detail"] and "dem" in problem["detail"]


def test_preview_is_private_with_an_api_key(catalog):
    client = TestClient(make_app(catalog, Settings(api_key="k")))
    assert client.get("/coverages/dem/preview.png").status_code == 401  # behind the key like the whole API
    r = client.get("/coverages/dem/preview.png", headers={"X-API-Key": "k"})
    assert r.status_code == 200 and r.headers["cache-control"].startswith("private")


# ---------------------------------------------------------------------------------------------- API docs
@pytest.mark.parametrize(
    ("path", "assets"),
    [
        ("/docs", ["/static/swagger-ui/swagger-ui-bundle.js", "/static/swagger-ui/swagger-ui.css"]),
        ("/redoc", ["/static/redoc/redoc.standalone.js"]),
    ],
)
def test_api_docs_load_only_the_packages_own_files(client, catalog, path, assets):
    """/docs (Swagger UI) and /redoc (ReDoc) refer to no CDN nor font service: their scripts and styles are
    shipped in the package (static/swagger-ui, static/redoc, with their licences) and served."""
    r = client.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    refs = re.findall(r'(?:src|href)="([^"]*)"', r.text) + re.findall(r"url: '([^']*)'", r.text)
    refs += re.findall(r'spec-url="([^"]*)"', r.text)
    assert set(assets) <= set(refs) and "/openapi.json" in refs
    assert "http://" not in r.text.replace("http://www.w3.org", "") and "https://" not in r.text
    assert "googleapis" not in r.text and "jsdelivr" not in r.text
    for ref in refs:
        assert ref.startswith("/"), ref
        got = client.get(ref)
        assert got.status_code == 200 and got.content, ref
    under = TestClient(make_app(catalog), root_path="/svc").get(path).text
    assert all(f"/svc{a}" in under for a in assets) and "/svc/openapi.json" in under


@pytest.mark.parametrize(
    "path",
    ["/static/swagger-ui/LICENSE", "/static/swagger-ui/NOTICE", "/static/redoc/LICENSE", "/static/redoc/README.md"],
)
def test_vendored_docs_licences_are_shipped(client, path):
    assert client.get(path).status_code == 200


def test_api_docs_are_off_with_an_api_key(catalog):
    c = TestClient(make_app(catalog, Settings(api_key="k")))
    for path in ("/docs", "/redoc"):
        assert c.get(path, headers={"X-API-Key": "k"}).status_code == 404


# ---------------------------------------------------------------------------------------------- browser
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
try:
    import playwright.sync_api as _playwright
except ImportError:  # pragma: no cover - depends on the environment
    _playwright = None

_browser_missing = CHROMIUM is None or _playwright is None
browser = pytest.mark.skipif(
    _browser_missing,
    reason="the browser test needs chromium (apt-get install chromium) and playwright (pip install playwright)",
)


@pytest.fixture
def live_server(catalog):
    with serve_in_thread(make_app(catalog)) as base:
        yield base


@browser
def test_page_in_a_browser(live_server, catalog, tmp_path):
    errors: list[str] = []
    with _playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = b.new_page(accept_downloads=True)
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            # (a navigation that turns into a download is reported as aborted: not an error)
            page.on("requestfailed", lambda r: None if "/result" in r.url else errors.append(f"{r.url}: {r.failure}"))
            page.goto(live_server + "/")
            page.wait_for_selector("#coverages li[data-id]")
            n = len(catalog.coverages)
            listed = page.text_content("#coverages")  # the real API's crs is {label, epsg, wkt}: its label shows
            assert "EPSG:32198" in listed and "EPSG:4326" in listed and "[object" not in listed
            page.wait_for_function(f"document.querySelectorAll('#map path.leaflet-interactive').length === {n}")
            assert page.locator("#map path.leaflet-interactive").count() == n
            page.wait_for_function(
                f"Array.from(document.querySelectorAll('#map img.leaflet-image-layer')).filter(i => i.complete &&"
                f" i.naturalWidth > 0).length === {n}"
            )
            assert page.locator("#clip_layer option[value='zones']").count() == 1
            assert page.locator("#clip_layer option[value='ortho']").count() == 1  # a coverage's footprint
            assert page.locator("#coverage option").count() == n
            # a bbox drawn with two clicks on the map fills the form in lon/lat
            page.click("#draw")
            box = page.locator("#map").bounding_box()
            cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
            page.mouse.click(cx - 40, cy - 30)
            page.mouse.click(cx + 40, cy + 30)
            assert page.input_value("#bbox_crs") == "EPSG:4326"
            assert len(page.input_value("#bbox").split(",")) == 4
            # a typed bbox that is not 4 numbers is refused in the page
            page.fill("#bbox", "1,2,3")
            page.click("#download")
            assert "4 numbers" in page.text_content("#message")
            # download the whole ortho coverage as a GeoTIFF: a job, its progress shown, then the file
            page.click("#clear-bbox")
            page.select_option("#coverage", "ortho")
            page.select_option("#format", "gtiff")
            with page.expect_download() as info:
                page.click("#download")
            download = info.value
            assert download.suggested_filename == "ortho.tif"
            target = tmp_path / "downloaded.tif"
            download.save_as(target)
            page.wait_for_function("document.getElementById('progress').value === 100")
            assert page.is_visible("#progress") and "exported ortho" in page.text_content("#message")
            assert not page.is_disabled("#download")
            assert not errors, errors
            # a request the service refuses is told in the page (not a JSON page in place of the form)
            page.fill("#bbox", "0,0,1,1")
            page.select_option("#bbox_crs", "")
            page.click("#download")
            page.wait_for_function("document.getElementById('message').classList.contains('error')")
            assert "cannot export ortho" in page.text_content("#message")
            assert [e for e in errors if "status of 422" not in e] == []  # the browser logs the refused request
            errors.clear()
        finally:
            b.close()
    with rasterio.open(target) as ds:
        assert ds.driver == "GTiff" and ds.count == 3 and (ds.width, ds.height) == (200, 100)
    assert not errors, errors


def _offline_page(b, base: str, errors: list[str], outside: list[str]):
    """A page that may load only ``base``'s URLs: any other request is recorded in ``outside`` and refused."""
    page = b.new_page()
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))

    def guard(route):
        if route.request.url.startswith(base):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", guard)
    return page


@browser
def test_api_docs_render_offline_in_a_browser(live_server):
    """Swagger UI and ReDoc draw the operations with every request but the service's own refused."""
    errors: list[str] = []
    outside: list[str] = []
    with _playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = _offline_page(b, live_server, errors, outside)
            page.goto(live_server + "/docs")
            page.wait_for_selector(".opblock-summary-path")
            paths = page.locator(".opblock-summary-path").all_text_contents()
            assert "/coverages/{id}/export" in [t.replace("\u200b", "") for t in paths]
            assert page.locator(".opblock-get").count() >= 5 and page.locator(".opblock-post").count() >= 2
            page = _offline_page(b, live_server, errors, outside)
            page.goto(live_server + "/redoc")
            page.wait_for_function("document.body.innerText.includes('/coverages/{id}/export')", timeout=30000)
            assert "/layers/{id}/features" in page.inner_text("body")
        finally:
            b.close()
    assert outside == [] and errors == [], (outside, errors)


@browser
def test_vector_layers_drawn_on_the_map(live_server, catalog):
    """Ticking a layer draws its features (GeoJSON from /layers/{id}/features); clicking one makes it the clip."""
    errors: list[str] = []
    outside: list[str] = []
    with _playwright.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = _offline_page(b, live_server, errors, outside)
            page.goto(live_server + "/")
            page.wait_for_selector("#show-zones")
            assert page.locator("#map path.layer-feature").count() == 0
            page.check("#show-zones")
            page.wait_for_selector("#map path.layer-feature")
            assert page.locator("#map path.layer-feature").count() == 1  # zones.gpkg has one feature
            assert "1 feature drawn" in page.text_content("#layers li[data-id='zones']")
            page.click("#map path.layer-feature")
            assert page.input_value("#clip_layer") == "zones" and page.input_value("#clip_id") == "1"
            page.uncheck("#show-zones")
            assert page.locator("#map path.layer-feature").count() == 0
            page.check("#show-zones")  # drawn again from what was loaded
            assert page.locator("#map path.layer-feature").count() == 1
        finally:
            b.close()
    assert outside == [] and errors == [], (outside, errors)
