"""Sign-in (``/v1/auth/login``) and the widget's assertion exchange (``/v1/auth/exchange``), over the app
on the demo database: a token that comes back works, and every bad attempt is a clear 4xx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from fastapi.testclient import TestClient

from copilot.api.app import create_app
from copilot.service.runtime import Runtime

SECRET = "test-embed-secret-0123456789abcdef0123456789"


def _app(demo_runtime: Runtime, **settings: Any) -> TestClient:
    from copilot.core.settings import Settings

    runtime = Runtime(Settings.model_validate({**demo_runtime.settings.model_dump(), **settings}))
    return TestClient(create_app(runtime, warm_up=False), raise_server_exceptions=False)


@pytest.fixture(scope="module")
def embed_client(demo_runtime: Runtime) -> Iterator[TestClient]:
    client = _app(demo_runtime, embed_secret=SECRET, cors_origins="http://crm.example.test")
    yield client
    client.app.state.runtime.close()  # type: ignore[attr-defined]


def _assertion(sub: str = "rep_east_1", life_s: float = 300, secret: str = SECRET, **claims: Any) -> str:
    now = time.time()
    return jwt.encode({"sub": sub, "iat": int(now), "exp": int(now + life_s), **claims}, secret, algorithm="HS256")


def test_demo_sign_in_gives_a_short_lived_token_that_works(client: TestClient) -> None:
    r = client.post("/v1/auth/login", json={"username": "rep_east_1", "password": "demo"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == 8 * 3600
    assert body["user"]["username"] == "rep_east_1" and "sales_rep" in body["user"]["roles"]
    me = client.get("/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["username"] == "rep_east_1"
    listed = client.get("/v1/records/opportunity?mine=true", headers={"Authorization": f"Bearer {body['token']}"})
    assert listed.status_code == 200 and listed.json()["total"] > 0


@pytest.mark.parametrize(
    ("username", "password"), [("rep_east_1", "wrong"), ("nobody", "demo"), ("rep_east_1", "DEMO")]
)
def test_a_wrong_password_or_unknown_user_is_one_clear_401(client: TestClient, username: str, password: str) -> None:
    r = client.post("/v1/auth/login", json={"username": username, "password": password})
    assert r.status_code == 401
    assert r.json()["error"] == {"code": "invalid_credentials", "message": "wrong username or password"}


def test_sign_in_can_be_turned_off(demo_runtime: Runtime) -> None:
    client = _app(demo_runtime, demo_password="")
    r = client.post("/v1/auth/login", json={"username": "rep_east_1", "password": "demo"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "login_disabled"


def test_sign_in_attempts_are_rate_limited(demo_runtime: Runtime) -> None:
    client = _app(demo_runtime, rate_limit="3/minute")
    codes = [client.post("/v1/auth/login", json={"username": "rep_south_1", "password": "guess"}).status_code
             for _ in range(4)]
    assert codes == [401, 401, 401, 429]
    last = client.post("/v1/auth/login", json={"username": "rep_south_1", "password": "demo"})
    assert last.status_code == 429 and int(last.headers["Retry-After"]) >= 1


def test_a_fresh_assertion_is_exchanged_for_a_short_lived_token(embed_client: TestClient) -> None:
    r = embed_client.post("/v1/auth/exchange", json={"assertion": _assertion("service_agent_1")})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["expires_in"] == 15 * 60 and body["user"]["username"] == "service_agent_1"
    me = embed_client.get("/v1/auth/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200 and me.json()["username"] == "service_agent_1"


@pytest.mark.parametrize(
    ("assertion", "code"),
    [
        (_assertion(life_s=-120), "assertion_expired"),
        (_assertion(secret="another-secret-of-someone-else-0123456789"), "assertion_forged"),
        (_assertion(life_s=3600), "assertion_too_long"),
        (_assertion("nobody_here"), "unknown_user"),
        (_assertion().rsplit(".", 1)[0] + ".", "assertion_forged"),
        (jwt.encode({"sub": "admin", "exp": int(time.time()) + 60}, key="", algorithm="none"), "assertion_invalid"),
        ("not a jwt", "assertion_invalid"),
    ],
    ids=["expired", "forged", "long-lived", "unknown-user", "no-signature", "alg-none", "garbage"],
)
def test_a_bad_assertion_is_refused(embed_client: TestClient, assertion: str, code: str) -> None:
    r = embed_client.post("/v1/auth/exchange", json={"assertion": assertion})
    assert r.status_code == 401, r.text
    assert r.json()["error"]["code"] == code


def test_an_assertion_without_exp_is_refused(embed_client: TestClient) -> None:
    token = jwt.encode({"sub": "rep_east_1"}, SECRET, algorithm="HS256")
    r = embed_client.post("/v1/auth/exchange", json={"assertion": token})
    assert r.status_code == 401 and r.json()["error"]["code"] == "assertion_invalid"


def test_no_exchange_without_a_secret(client: TestClient) -> None:
    r = client.post("/v1/auth/exchange", json={"assertion": _assertion()})
    assert r.status_code == 403 and r.json()["error"]["code"] == "exchange_disabled"


def test_cors_lets_only_the_configured_origin_in(embed_client: TestClient, client: TestClient) -> None:
    pre = embed_client.options("/v1/assist", headers={
        "Origin": "http://crm.example.test", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type",
    })
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "http://crm.example.test"
    assert "authorization" in pre.headers["access-control-allow-headers"].lower()
    # Even a refusal is readable by the host page's script.
    refused = embed_client.get("/v1/records/opportunity", headers={"Origin": "http://crm.example.test"})
    assert refused.status_code == 401 and refused.headers["access-control-allow-origin"] == "http://crm.example.test"
    other = embed_client.get("/healthz", headers={"Origin": "http://evil.example.test"})
    assert "access-control-allow-origin" not in other.headers
    # No CORS_ORIGINS: no cross-origin reader at all.
    assert "access-control-allow-origin" not in client.get("/healthz", headers={"Origin": "http://crm.example.test"}).headers


def test_pages_may_be_framed_by_the_configured_origins_only(embed_client: TestClient, client: TestClient) -> None:
    framed = embed_client.get("/records/opportunity/1").headers["content-security-policy"]
    assert "frame-ancestors 'self' http://crm.example.test" in framed
    assert "frame-ancestors 'self'" in client.get("/").headers["content-security-policy"]


def test_api_docs_use_only_local_assets(client: TestClient) -> None:
    import re

    for page in ("/docs", "/redoc"):
        html = client.get(page).text
        sources = re.findall(r"""(?:src|href)=["']([^"']+)["']""", html) + re.findall(r"url: ?'([^']+)'", html)
        assert sources, page
        assert all(s.startswith("/") for s in sources), (page, sources)
        for s in sources:
            assert client.get(s).status_code == 200, s
    assert "https://" not in client.get("/docs").text
