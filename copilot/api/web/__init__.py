"""The CRM web app at ``/`` (sign-in, lists, record pages with the copilot docked), ``/widget.js`` for host
CRM pages, and the API docs (Swagger UI at ``/docs``, ReDoc at ``/redoc``) with their assets served from
here: nothing is loaded from a CDN, so every page works offline.

Static HTML and vanilla JS (``static/``) that call the public API like any other client. Page routes of
the app all answer ``index.html`` (the app reads the path itself). Who may frame the pages is the
``FRAME_ANCESTORS`` setting (default: this origin and the ``CORS_ORIGINS``).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

STATIC = Path(__file__).parent / "static"
# What may be served from static/, by suffix; anything else (or outside the folder) is a 404.
_TYPES = {
    ".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".html": "text/html; charset=utf-8",
    ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".woff2": "font/woff2",
    ".json": "application/json", ".map": "application/json",
}  # fmt: skip
DOCS_ASSETS = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}

router = APIRouter(include_in_schema=False)


def page_headers(request: Request) -> dict[str, str]:
    """The app's pages talk only to this origin and render API answers as text, never as HTML."""
    ancestors = request.app.state.runtime.settings.frame_ancestor_sources
    return {
        "Content-Security-Policy": (
            "default-src 'self'; connect-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            f"object-src 'none'; base-uri 'none'; frame-ancestors {ancestors}"
        ),
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }


def _index(request: Request) -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type=_TYPES[".html"], headers=page_headers(request))


@router.get("/")
def index(request: Request) -> FileResponse:
    return _index(request)


@router.get("/login")
@router.get("/embed")
def app_page(request: Request) -> FileResponse:
    return _index(request)


@router.get("/records/{object_type}")
@router.get("/records/{object_type}/{object_id:path}")
def record_page(request: Request, object_type: str, object_id: str | None = None) -> FileResponse:
    return _index(request)


@router.get("/web/{name:path}")
def asset(request: Request, name: str) -> FileResponse:
    path = (STATIC / name).resolve()
    if not path.is_relative_to(STATIC.resolve()) or path.suffix not in _TYPES or not path.is_file():
        raise HTTPException(404, f"no such file: {name}")
    return FileResponse(path, media_type=_TYPES[path.suffix], headers=page_headers(request))


@router.get("/widget.js")
def widget() -> FileResponse:
    """The embeddable panel, loaded by a host CRM page of another origin with a plain ``<script src>``."""
    path = STATIC / "widget.js"
    if not path.is_file():
        raise HTTPException(404, "widget.js is not built into this installation")
    return FileResponse(path, media_type=_TYPES[".js"], headers={
        "Cross-Origin-Resource-Policy": "cross-origin", "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-cache",
    })


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(
        openapi_url=request.app.openapi_url or "/openapi.json", title=f"{request.app.title} — API",
        swagger_js_url="/docs-assets/swagger-ui-bundle.js", swagger_css_url="/docs-assets/swagger-ui.css",
        swagger_favicon_url="/docs-assets/favicon.png",
    )


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    return get_redoc_html(
        openapi_url=request.app.openapi_url or "/openapi.json", title=f"{request.app.title} — API",
        redoc_js_url="/docs-assets/redoc.standalone.js", redoc_favicon_url="/docs-assets/favicon.png",
        with_google_fonts=False,
    )


@router.get("/docs-assets/{name}")
def docs_asset(name: str) -> FileResponse:
    # Swagger UI and ReDoc as shipped in the fastapi-offline package (a dependency), by name from a fixed list.
    import fastapi_offline

    if name not in DOCS_ASSETS:
        raise HTTPException(404, f"no such file: {name}")
    folder = Path(fastapi_offline.__file__).parent / "static"
    return FileResponse(folder / name, media_type=DOCS_ASSETS[name], headers={"Cache-Control": "max-age=86400"})
