"""The template registry over HTTP: ids, versions, declared variables, rendering without a model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

Headers = Callable[[str], dict[str, str]]
SAMPLE = {"str": "示例", "int": 1, "float": 1.5, "bool": True, "list": [], "dict": {}, "object": {}}


def test_list_names_every_template_with_versions_and_variables(client: TestClient, auth: Headers) -> None:
    response = client.get("/v1/prompts", headers=auth("rep_east_1"))
    assert response.status_code == 200
    prompts = {p["id"]: p for p in response.json()["prompts"]}
    assert {
        "record_qa",
        "next_best_action",
        "marketing_copy",
        "troubleshoot",
        "reply_suggestion",
        "ticket_lookup",
    } <= set(prompts)
    qa = prompts["record_qa"]
    assert qa["versions"] and qa["latest"] == qa["versions"][-1]
    assert set(qa["locales"]) == {"zh", "en"}
    assert qa["variables"]


def test_one_template_shows_each_version_and_locale(client: TestClient, auth: Headers) -> None:
    body = client.get("/v1/prompts/record_qa", headers=auth("service_agent_1")).json()
    assert body["id"] == "record_qa"
    assert {(t["version"], t["locale"]) for t in body["templates"]} >= {(body["latest"], "zh"), (body["latest"], "en")}
    for t in body["templates"]:
        assert "path" not in t  # where the server is installed is not the client's business
        assert all("type" in v for v in t["variables"].values())


def test_unknown_template_is_404(client: TestClient, auth: Headers) -> None:
    for response in (
        client.get("/v1/prompts/no_such_template", headers=auth("admin")),
        client.post("/v1/prompts/no_such_template/render", json={}, headers=auth("admin")),
        client.post("/v1/prompts/record_qa/render", json={"version": "99"}, headers=auth("admin")),
    ):
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "template_not_found"


def _declared(client: TestClient, auth: Headers, template_id: str) -> dict[str, Any]:
    return client.get(f"/v1/prompts/{template_id}", headers=auth("admin")).json()["variables"]  # type: ignore[no-any-return]


def test_render_without_variables_names_the_missing_ones(client: TestClient, auth: Headers) -> None:
    required = sorted(name for name, v in _declared(client, auth, "record_qa").items() if v["required"])
    assert required, "record_qa declares required variables"
    response = client.post("/v1/prompts/record_qa/render", json={}, headers=auth("rep_east_1"))
    assert response.status_code == 422
    error = response.json()["error"]
    assert sorted(error["missing"]) == required
    for name in required:
        assert name in error["message"]


def test_render_with_variables_returns_the_messages_and_no_model_answer(client: TestClient, auth: Headers) -> None:
    declared = _declared(client, auth, "record_qa")
    variables = {name: SAMPLE[v["type"]] for name, v in declared.items() if v["required"]}
    response = client.post(
        "/v1/prompts/record_qa/render", json={"variables": variables, "locale": "en"}, headers=auth("rep_east_1")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["id"] == "record_qa" and body["locale"] == "en"
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert all(m["content"] for m in body["messages"])


def test_a_bad_version_is_422_not_500(client: TestClient, auth: Headers) -> None:
    response = client.post("/v1/prompts/record_qa/render", json={"version": "latest!"}, headers=auth("admin"))
    assert response.status_code == 422


def test_rendering_a_skills_template_needs_that_skills_roles(client: TestClient, auth: Headers) -> None:
    """Render is the skill without the model: a rep may not render the marketers' template (the policy's
    may_render_prompt), a marketer may, and a template every role may use stays open to employees."""
    variables = {name: SAMPLE.get(v["type"], "示例") for name, v in _declared(client, auth, "marketing_copy").items()}
    path, body = "/v1/prompts/marketing_copy/render", {"variables": variables}
    refused = client.post(path, json=body, headers=auth("rep_east_1"))
    assert refused.status_code == 403, refused.text
    assert "marketer" in refused.json()["error"]["message"]
    allowed = client.post(path, json=body, headers=auth("marketer_1"))
    assert allowed.status_code == 200, allowed.text
    assert client.post("/v1/prompts/record_qa/render", json={}, headers=auth("service_agent_1")).status_code == 422
