"""The small page at / : served, self-contained, and carrying no secret."""

from __future__ import annotations

from fastapi.testclient import TestClient


def test_page_and_its_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'id="token"' in page.text and 'id="message"' in page.text and "/web/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    script = client.get("/web/app.js")
    assert script.status_code == 200 and "/v1/assist" in script.text
    # Answers are written as text, so a record's content cannot inject markup into the page.
    assert "innerHTML" not in script.text
    assert client.get("/web/style.css").status_code == 200


def test_only_the_known_assets_are_served(client: TestClient) -> None:
    for name in ("..%2F__init__.py", "index.py", "secret"):
        assert client.get(f"/web/{name}").status_code == 404
