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


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Arguments first, keeping their shape (uvicorn's access formatter unpacks them); then, if the
        # formatted line still holds a secret (one written into the template), the line itself. Never the
        # template alone: masking its "%s" would break the formatting.
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: redact(v) if isinstance(v, str) else v for k, v in record.args.items()}
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own error report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_REDACT = RedactSecrets()


def _redacting_factory(inner: Any) -> Any:
    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = inner(*args, **kwargs)
        _REDACT.filter(record)
        return record

    factory.redacts = True  # type: ignore[attr-defined]
    return factory


def install_log_redaction() -> None:
    """Idempotent. Every record of the process is cleaned where it is made (a logger's filter would only
    see records logged on that very logger, not on its children such as ``copilot.service.turn``), and
    uvicorn's loggers carry the filter too, for records made before this ran."""
    current = logging.getLogRecordFactory()
    if not getattr(current, "redacts", False):
        logging.setLogRecordFactory(_redacting_factory(current))
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactSecrets) for f in logger.filters):
            logger.addFilter(_REDACT)
