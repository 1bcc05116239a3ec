"""Turning one cell (text from CSV, a typed value from XLSX or JSON) into a column value, or saying why not.

Every failure is a ``ValueError`` whose text is the reason a person reads in the row report.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from copilot.sync.objects import FieldSpec

_TRUE = {"true", "1", "yes", "y", "t", "是", "真", "on"}
_FALSE = {"false", "0", "no", "n", "f", "否", "假", "off"}
_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d", "%Y年%m月%d日")
_DATETIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y/%m/%d %H:%M:%S", "%Y/%m/%d %H:%M")


def blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_date(value: Any, fmt: str | None = None) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    if not fmt and len(text) == 10 and text[4] == "-":
        try:
            return dt.date.fromisoformat(text)  # the common case, without strptime's cost
        except ValueError:
            raise ValueError("not a date (expected YYYY-MM-DD)") from None
    for f in (fmt,) if fmt else _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, f).date()
        except ValueError:
            continue
    # ISO with a time part (Salesforce writes dates of datetimes as 2026-11-20T08:00:00.000Z)
    if not fmt and len(text) > 10 and text[10] in "T ":
        return parse_datetime(text).date()
    raise ValueError(f"not a date (expected {fmt or 'YYYY-MM-DD'})")


def parse_datetime(value: Any, fmt: str | None = None) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).replace(tzinfo=None) if value.tzinfo else value
    if isinstance(value, dt.date):
        return dt.datetime.combine(value, dt.time())
    text = str(value).strip()
    if fmt:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            raise ValueError(f"not a date-time (expected {fmt})") from None
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        for f in _DATETIME_FORMATS:
            try:
                return dt.datetime.strptime(text, f)
            except ValueError:
                continue
        try:
            return dt.datetime.combine(parse_date(text), dt.time())
        except ValueError:
            raise ValueError("not a date-time (expected ISO 8601, e.g. 2026-11-20T09:30:00)") from None
    # Stored naive in UTC, as the models' utcnow() does.
    return parsed.astimezone(dt.UTC).replace(tzinfo=None) if parsed.tzinfo else parsed


def from_epoch_ms(value: Any) -> dt.datetime:
    try:
        ms = int(str(value).strip())
    except ValueError:
        raise ValueError("not a timestamp in milliseconds") from None
    # WeCom message times are epoch milliseconds; shown to Chinese teams in China Standard Time.
    return dt.datetime.fromtimestamp(ms / 1000, dt.UTC).replace(tzinfo=None) + dt.timedelta(hours=8)


def convert(spec: FieldSpec, value: Any, fmt: str | None = None) -> Any:
    """The column value for ``value``; None for a blank cell. Raises ValueError with the reason."""
    if blank(value):
        if spec.kind == "json":
            return None
        return None
    kind = spec.kind
    if kind in ("str", "text"):
        text = str(value).strip() if kind == "str" else str(value)
        if isinstance(value, float) and value.is_integer():
            text = str(int(value))  # a spreadsheet's 13800138000.0 is the number the person typed
        if spec.length and len(text) > spec.length:
            raise ValueError(f"longer than {spec.length} characters")
        if spec.choices is not None and text not in spec.choices:
            raise ValueError(f"not one of {', '.join(spec.choices)} (add it to the mapping's value map)")
        return text
    if kind == "int":
        if isinstance(value, bool):
            raise ValueError("not a whole number")
        try:
            number = Decimal(str(value).strip().replace(",", ""))
        except InvalidOperation:
            raise ValueError("not a whole number") from None
        if not number.is_finite() or number != number.to_integral_value() or abs(number) > 2**31 - 1:
            raise ValueError("not a whole number")
        return int(number)
    if kind == "decimal":
        if isinstance(value, float) and not math.isfinite(value):
            raise ValueError("not a finite number")
        try:
            number = Decimal(str(value).strip().replace(",", "").lstrip("¥$"))
        except InvalidOperation:
            raise ValueError("not a number") from None
        if not number.is_finite() or abs(number) >= Decimal(10) ** 12:
            raise ValueError("not a finite number under 10^12")
        return number.quantize(Decimal("0.01"))
    if kind == "date":
        return parse_date(value, fmt)
    if kind == "datetime":
        return parse_datetime(value, fmt)
    if kind == "bool":
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise ValueError("not true/false")
    if kind == "json":
        if isinstance(value, (dict, list)):
            return value
        text = str(value).strip()
        if text[:1] in "[{":
            try:
                return json.loads(text)
            except json.JSONDecodeError as exc:
                raise ValueError(f"not valid JSON ({exc.msg})") from None
        return [part.strip() for part in text.split(";") if part.strip()]  # tags "a;b;c"
    if kind in ("ref", "list"):
        raise TypeError("references are resolved by the upserter")
    raise TypeError(f"unknown field kind {kind}")
