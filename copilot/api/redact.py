"""No token in any log line: uvicorn's access log prints the query string, and a client that passes its
token as ``?token=`` or ``?api_key=`` (some MCP and OpenAI clients do) would write it to disk there.

A logging filter rewrites every record on the server's loggers before any handler formats it: secret
query parameters, ``Bearer …`` values and anything shaped like one of our tokens become ``***``.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from copilot.store.tokens import TOKEN_PREFIX

SECRET_PARAMS = ("token", "access_token", "api_key", "apikey", "key", "auth", "authorization", "password", "secret")
_PARAM = re.compile(r"(?i)([?&](?:" + "|".join(SECRET_PARAMS) + r")=)[^&#\s\"']*")
_BEARER = re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+")
_OUR_TOKEN = re.compile(re.escape(TOKEN_PREFIX) + r"[A-Za-z0-9_-]+")
MASK = "***"
# uvicorn's own loggers, and ours.
LOGGERS = ("uvicorn.access", "uvicorn.error", "uvicorn", "copilot")


def redact(text: str) -> str:
    text = _PARAM.sub(lambda m: m.group(1) + MASK, text)
    text = _BEARER.sub(lambda m: m.group(1) + MASK, text)
    return _OUR_TOKEN.sub(TOKEN_PREFIX + MASK, text)


def _clean(value: Any) -> Any:
    return redact(value) if isinstance(value, str) else value


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(_clean(a) for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: _clean(v) for k, v in record.args.items()}
        return True


def install_log_redaction() -> None:
    """Idempotent: attach one filter to each server logger (uvicorn configures them after import, but
    keeps the logger objects, so a filter attached at app creation stays)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(RedactSecrets())
