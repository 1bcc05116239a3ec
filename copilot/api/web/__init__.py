"""A small page at ``/`` for trying the copilot in a browser: paste a token, ask, watch the answer stream.

Static HTML and vanilla JS that call the public API like any other client; the page holds no secret
and the server hands out no token through it.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
# Served by name from a fixed list, so no path from the URL ever reaches the file system.
_FILES = {"app.js": "text/javascript", "style.css": "text/css"}
# The page talks only to this origin; the API answers are rendered as text, never as HTML.
_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; connect-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}

router = APIRouter(include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html; charset=utf-8", headers=_HEADERS)


@router.get("/web/{name}")
def asset(name: str) -> FileResponse:
    if name not in _FILES:
        raise HTTPException(404, f"no such file: {name}")
    return FileResponse(STATIC / name, media_type=f"{_FILES[name]}; charset=utf-8", headers=_HEADERS)
