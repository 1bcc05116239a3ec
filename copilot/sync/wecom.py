"""WeCom (企业微信) conversation-archive messages → one ``wecom`` activity per employee, external contact
and day: the transcript of that day's chat, on the contact (matched by its ``wecom_id``) and, through
the importer's references, on the contact's account.

Input is the archive's decrypted message records (one per line in JSONL, or a ``chatdata`` page):
``{"msgid", "action": "send", "from", "tolist": [...], "roomid", "msgtime": <epoch ms>, "msgtype": "text",
"text": {"content": "..."}}``. An employee is named by their WeCom userid (= our username); an external
contact by an id starting ``wm``/``wo`` (the ``external_userid``). Group chats (``roomid``), recalls and
non-text messages other than a short placeholder are left out. Messages are expected in time order, as the
archive API returns them: a day's conversation is written out once the stream has passed that day.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from copilot.sync.convert import from_epoch_ms
from copilot.sync.readers import SourceRow

PLACEHOLDER = {"image": "[图片]", "voice": "[语音]", "video": "[视频]", "file": "[文件]", "link": "[链接]",
               "emotion": "[表情]", "location": "[位置]"}
MAX_BODY = 8000


def _is_external(user_id: str) -> bool:
    return user_id.startswith(("wm", "wo"))


def _text(msg: dict[str, Any]) -> str | None:
    kind = msg.get("msgtype")
    if kind == "text":
        content = (msg.get("text") or {}).get("content")
        return str(content).strip() if content else None
    return PLACEHOLDER.get(str(kind))


class _Day:
    def __init__(self, row: int, employee: str, contact: str, day: dt.date) -> None:
        self.row, self.employee, self.contact, self.day = row, employee, contact, day
        self.lines: list[str] = []
        self.first: dt.datetime | None = None
        self.customer_lines = 0

    def record(self) -> dict[str, Any]:
        body = "\n".join(self.lines)
        if len(body) > MAX_BODY:
            body = body[: MAX_BODY - 1] + "…"
        return {
            "external_id": f"wecom:{self.employee}:{self.contact}:{self.day.isoformat()}",
            "kind": "wecom",
            "subject": f"企业微信会话（{len(self.lines)} 条消息，客户 {self.customer_lines} 条）",
            "body": body,
            "occurred_at": self.first,
            "owner_id": self.employee,
            "contact_id": self.contact,
            "account_id": f"@contact:{self.contact}",
        }


def conversations(rows: Iterator[SourceRow]) -> Iterator[SourceRow]:
    open_days: dict[tuple[str, str, dt.date], _Day] = {}
    for source in rows:
        msg = source.values
        if msg is None:
            yield source
            continue
        if msg.get("action", "send") != "send" or msg.get("roomid"):
            continue
        sender = str(msg.get("from") or "")
        receivers = [str(t) for t in (msg.get("tolist") or [])]
        if not sender or len(receivers) != 1:
            continue
        pair = (receivers[0], sender) if _is_external(sender) else (sender, receivers[0])
        if _is_external(pair[0]) or not _is_external(pair[1]):
            continue  # employee↔employee or contact↔contact: not a customer conversation
        try:
            when = from_epoch_ms(msg.get("msgtime"))
        except ValueError as exc:
            yield SourceRow(source.row, None, f"msgtime: {exc}")
            continue
        text = _text(msg)
        if not text:
            continue
        for key in [k for k in open_days if k[2] < when.date()]:
            yield SourceRow(open_days[key].row, open_days.pop(key).record())
        key = (*pair, when.date())
        day = open_days.setdefault(key, _Day(source.row, pair[0], pair[1], when.date()))
        day.first = day.first or when
        who = "客户" if _is_external(sender) else "我方"
        day.customer_lines += _is_external(sender)
        day.lines.append(f"{when:%H:%M} {who}：{text}")
    for day in open_days.values():
        yield SourceRow(day.row, day.record())
