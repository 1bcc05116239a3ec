"""Conversations over HTTP: every answer carries a conversation id; the caller lists, reads, continues and
deletes only their own (another user's is a 404, exactly like a missing one); a follow-up keeps the
previous turn's skill and record; a question with choices is answered with a number or a name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi.testclient import TestClient

Auth = Callable[[str], dict[str, str]]
AGENT = "service_agent_1"
TICKET = {"object_type": "ticket", "object_id": 1}


def assist(client: TestClient, auth: Auth, user: str, **body: Any) -> dict[str, Any]:
    response = client.post("/v1/assist", json=body, headers=auth(user))
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_every_answer_carries_a_conversation_and_a_follow_up_continues_it(
    conv_client: TestClient, conv_auth: Auth
) -> None:
    first = assist(conv_client, conv_auth, AGENT, message="帮我回复客户", context=TICKET)
    assert first["skill"] == "reply_suggestion"
    cid = first["conversation_id"]
    assert isinstance(cid, str) and len(cid) == 32

    # No page this time: the refinement goes to the same skill on the same ticket.
    second = assist(conv_client, conv_auth, AGENT, message="更正式一点", conversation_id=cid)
    assert second["conversation_id"] == cid
    assert second["skill"] == "reply_suggestion"
    assert second["routing"]["method"] == "followup"
    assert "crm:ticket:1" in {c["id"] for c in second["citations"]}

    third = assist(conv_client, conv_auth, AGENT, message="shorter please", conversation_id=cid)
    assert third["skill"] == "reply_suggestion" and third["conversation_id"] == cid

    shown = conv_client.get(f"/v1/conversations/{cid}", headers=conv_auth(AGENT)).json()
    assert [t["message"] for t in shown["turns"]] == ["帮我回复客户", "更正式一点", "shorter please"]
    assert all(t["context"] == TICKET for t in shown["turns"])
    assert shown["turns"][0]["answer"] == first["answer"]
    listed = conv_client.get("/v1/conversations", headers=conv_auth(AGENT)).json()["conversations"]
    assert {"id": cid, "turns": 3}.items() <= next(c for c in listed if c["id"] == cid).items()


def test_a_new_request_in_the_same_conversation_is_routed_afresh(conv_client: TestClient, conv_auth: Auth) -> None:
    first = assist(conv_client, conv_auth, AGENT, message="帮我回复客户", context=TICKET)
    cid = first["conversation_id"]
    second = assist(conv_client, conv_auth, AGENT, message="我名下还没关闭的高优先级工单有哪些", conversation_id=cid)
    assert second["skill"] == "ticket_lookup"


def test_another_users_conversation_is_not_found(conv_client: TestClient, conv_auth: Auth) -> None:
    cid = assist(conv_client, conv_auth, AGENT, message="帮我回复客户", context=TICKET)["conversation_id"]
    other = conv_auth("service_mgr")
    assert conv_client.get(f"/v1/conversations/{cid}", headers=other).status_code == 404
    assert conv_client.delete(f"/v1/conversations/{cid}", headers=other).status_code == 404
    assert cid not in {c["id"] for c in conv_client.get("/v1/conversations", headers=other).json()["conversations"]}
    # Continuing someone else's conversation is refused the same way, before any skill runs.
    response = conv_client.post("/v1/assist", json={"message": "更正式一点", "conversation_id": cid}, headers=other)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "conversation_not_found"
    response = conv_client.post(
        "/v1/skills/reply_suggestion/invoke",
        json={"message": "shorter", "context": TICKET, "conversation_id": cid},
        headers=other,
    )
    assert response.status_code == 404
    # …and the owner still has it, untouched.
    mine = conv_client.get(f"/v1/conversations/{cid}", headers=conv_auth(AGENT))
    assert mine.status_code == 200 and len(mine.json()["turns"]) == 1


def test_owner_deletes_a_conversation(conv_client: TestClient, conv_auth: Auth) -> None:
    cid = assist(conv_client, conv_auth, AGENT, message="帮我回复客户", context=TICKET)["conversation_id"]
    assert conv_client.delete(f"/v1/conversations/{cid}", headers=conv_auth(AGENT)).status_code == 204
    assert conv_client.get(f"/v1/conversations/{cid}", headers=conv_auth(AGENT)).status_code == 404
    assert conv_client.delete(f"/v1/conversations/{cid}", headers=conv_auth(AGENT)).status_code == 404
    response = conv_client.post(
        "/v1/assist", json={"message": "shorter", "conversation_id": cid}, headers=conv_auth(AGENT)
    )
    assert response.status_code == 404


def test_unknown_and_malformed_conversation_ids_are_4xx(conv_client: TestClient, conv_auth: Auth) -> None:
    headers = conv_auth(AGENT)
    assert conv_client.get("/v1/conversations/" + "0" * 32, headers=headers).status_code == 404
    long_id = {"message": "hi", "conversation_id": "x" * 65}
    assert conv_client.post("/v1/assist", json=long_id, headers=headers).status_code == 422
    assert conv_client.get("/v1/conversations?limit=0", headers=headers).status_code == 422
    assert conv_client.get("/v1/conversations").status_code == 401


def test_skill_invoke_carries_the_conversation(conv_client: TestClient, conv_auth: Auth) -> None:
    body = {"message": "帮我回复客户", "context": TICKET}
    response = conv_client.post("/v1/skills/reply_suggestion/invoke", json=body, headers=conv_auth(AGENT))
    assert response.status_code == 200, response.text
    cid = response.json()["conversation_id"]
    again = conv_client.post(
        "/v1/skills/reply_suggestion/invoke",
        json={"message": "用英文", "context": TICKET, "conversation_id": cid},
        headers=conv_auth(AGENT),
    )
    assert again.json()["conversation_id"] == cid
    turns = conv_client.get(f"/v1/conversations/{cid}", headers=conv_auth(AGENT)).json()["turns"]
    assert [t["message"] for t in turns] == ["帮我回复客户", "用英文"]


def test_a_reply_with_no_ticket_asks_which_ticket_and_a_number_picks_it(
    conv_client: TestClient, conv_auth: Auth
) -> None:
    asked = assist(conv_client, conv_auth, AGENT, message="帮我回复客户，告诉他工程师明天上午上门")
    assert asked["skill"] == "reply_suggestion"
    options = asked["data"]["needs_choice"]["options"]
    assert len(options) >= 2 and all(o["context"]["object_type"] == "ticket" for o in options)
    assert [a["title"] for a in asked["actions"]] == [o["label"] for o in options]
    cid = asked["conversation_id"]

    picked = assist(conv_client, conv_auth, AGENT, message="第二个", conversation_id=cid)
    chosen = options[1]["context"]["object_id"]
    assert picked["skill"] == "reply_suggestion" and picked["routing"]["method"] == "choice"
    assert f"crm:ticket:{chosen}" in {c["id"] for c in picked["citations"]}
    turns = conv_client.get(f"/v1/conversations/{cid}", headers=conv_auth(AGENT)).json()["turns"]
    assert turns[1]["message"] == "第二个" and turns[1]["context"]["object_id"] == chosen


def test_a_choice_by_number_or_by_name(conv_client: TestClient, conv_auth: Auth) -> None:
    asked = assist(conv_client, conv_auth, AGENT, message="draft a reply to the customer")
    options = asked["data"]["needs_choice"]["options"]
    assert asked["answer"].splitlines()[-1] == "Reply with a number or a name."
    by_number = assist(conv_client, conv_auth, AGENT, message="1", conversation_id=asked["conversation_id"])
    assert f"crm:ticket:{options[0]['context']['object_id']}" in {c["id"] for c in by_number["citations"]}

    asked = assist(conv_client, conv_auth, AGENT, message="draft a reply to the customer")
    number = asked["data"]["needs_choice"]["options"][2]["label"].split()[0]  # the ticket number, e.g. GD2026…
    by_name = assist(conv_client, conv_auth, AGENT, message=number, conversation_id=asked["conversation_id"])
    target = asked["data"]["needs_choice"]["options"][2]["context"]["object_id"]
    assert by_name["skill"] == "reply_suggestion"
    assert f"crm:ticket:{target}" in {c["id"] for c in by_name["citations"]}


def test_a_number_that_is_no_option_is_not_a_choice(conv_client: TestClient, conv_auth: Auth) -> None:
    asked = assist(conv_client, conv_auth, AGENT, message="帮我回复客户")
    again = assist(conv_client, conv_auth, AGENT, message="9", conversation_id=asked["conversation_id"])
    assert again["routing"]["method"] != "choice"


def test_copy_with_no_product_asks_which_and_the_answer_writes_it(conv_client: TestClient, conv_auth: Auth) -> None:
    """Never a 400: the marketer gets the question with choices, and "2" (or a name) writes the copy."""
    asked = assist(conv_client, conv_auth, "marketer_1", message="写一封活动邀请函，对象是医疗器械经销商")
    assert asked["skill"] == "marketing_copy"
    need = asked["data"]["needs_choice"]
    assert need["for_skill"] == "marketing_copy" and len(need["options"]) >= 2
    products = [i for i, o in enumerate(need["options"]) if o.get("value")]
    assert products, need
    pick = products[0]
    written = assist(
        conv_client, conv_auth, "marketer_1", message=str(pick + 1), conversation_id=asked["conversation_id"]
    )
    assert written["skill"] == "marketing_copy" and written["routing"]["method"] == "choice"
    assert "needs_choice" not in written["data"]
    turns = conv_client.get(f"/v1/conversations/{asked['conversation_id']}", headers=conv_auth("marketer_1")).json()
    assert turns["turns"][-1]["message"] == str(pick + 1)


def test_a_streamed_turn_continues_the_conversation(conv_client: TestClient, conv_auth: Auth) -> None:
    cid = assist(conv_client, conv_auth, AGENT, message="帮我回复客户", context=TICKET)["conversation_id"]
    body = {"message": "更正式一点", "conversation_id": cid, "stream": True}
    with conv_client.stream("POST", "/v1/assist", json=body, headers=conv_auth(AGENT)) as response:
        assert response.status_code == 200
        text = "".join(response.iter_text())
    result = next(line for line in text.splitlines() if line.startswith("data: {") and '"answer"' in line)
    assert f'"conversation_id":"{cid}"' in result and '"skill":"reply_suggestion"' in result
    turns = conv_client.get(f"/v1/conversations/{cid}", headers=conv_auth(AGENT)).json()["turns"]
    assert [t["message"] for t in turns] == ["帮我回复客户", "更正式一点"]
    long = conv_client.get("/v1/conversations/" + "x" * 500, headers=conv_auth(AGENT))
    assert long.status_code == 404


def test_the_routers_question_is_answered_by_number_or_by_name(conv_client: TestClient, conv_auth: Auth) -> None:
    asked = assist(conv_client, conv_auth, AGENT, message="在吗")
    assert asked["skill"] == "clarify" and len(asked["data"]["options"]) >= 2
    cid = asked["conversation_id"]
    picked = assist(conv_client, conv_auth, AGENT, message="2", conversation_id=cid)
    assert picked["skill"] == asked["data"]["options"][1] and picked["routing"]["method"] == "choice"

    asked = assist(conv_client, conv_auth, AGENT, message="在吗")
    title = asked["actions"][0]["title"]  # the skill's title as the question showed it
    picked = assist(conv_client, conv_auth, AGENT, message=title, conversation_id=asked["conversation_id"])
    assert picked["skill"] == asked["data"]["options"][0]


def test_the_routers_question_never_offers_a_skill_that_cannot_work_here(
    conv_client: TestClient, conv_auth: Auth
) -> None:
    # For a service agent a vague "嗯嗯" scores closest to a reply, which cannot work with no ticket open.
    asked = assist(conv_client, conv_auth, AGENT, message="嗯嗯")
    assert asked["skill"] == "clarify", asked["skill"]
    assert "reply_suggestion" not in asked["data"]["options"]
