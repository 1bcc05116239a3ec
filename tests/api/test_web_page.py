"""The web app's files: one page for every app route, its assets by name from static/ only, the widget
for host pages; each page says who may frame it and talks to this origin only."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_every_app_route_is_the_one_page(client: TestClient) -> None:
    for path in ("/", "/login", "/embed", "/records/opportunity", "/records/opportunity/1", "/records/kb/doc-1"):
        page = client.get(path)
        assert page.status_code == 200, path
        assert page.headers["content-type"].startswith("text/html")
        assert 'data-testid="login-username"' in page.text or "/web/app.js" in page.text
        csp = page.headers["content-security-policy"]
        assert "default-src 'self'" in csp and "connect-src 'self'" in csp and "frame-ancestors" in csp


def test_assets_are_served_from_static_only(client: TestClient) -> None:
    script = client.get("/web/app.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    # Answers are written as text, so a record's content cannot inject markup into the page.
    assert "innerHTML" not in script.text
    assert client.get("/web/style.css").status_code == 200
    for name in ("..%2F__init__.py", "../__init__.py", "index.py", "secret", "%2e%2e/%2e%2e/app.py"):
        assert client.get(f"/web/{name}").status_code == 404, name


def test_the_widget_script_is_served_for_other_origins(client: TestClient) -> None:
    widget = client.get("/widget.js")
    assert widget.status_code == 200 and widget.headers["content-type"].startswith("text/javascript")
    assert widget.headers["cross-origin-resource-policy"] == "cross-origin"
    assert "data-assertion" in widget.text
