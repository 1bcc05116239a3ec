"""A stand-in for a host CRM: serves examples/host_page.html from its own origin, with a freshly signed
assertion of its user, so the copilot widget can be tried (and tested) embedded in "another" CRM.

    CRM_COPILOT_EMBED_SECRET=s3cret CRM_COPILOT_CORS_ORIGINS=http://localhost:8100 crm-copilot serve
    python examples/host_server.py --copilot http://127.0.0.1:8000 --secret s3cret --port 8100
    open http://localhost:8100/?user=rep_east_1&object=opportunity:1

`localhost` and `127.0.0.1` are different origins to a browser: the page really is cross-origin.
A real host signs the assertion on its server for the user it has signed in; never in the browser.
"""

from __future__ import annotations

import argparse
import html
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import jwt

PAGE = Path(__file__).with_name("host_page.html")
# Who is signed in to the host CRM and which record is open, when the URL does not say.
DEFAULT_USER, DEFAULT_OBJECT = "rep_east_1", "opportunity:1"
# Short-lived, as the copilot requires (at most 10 minutes).
ASSERTION_TTL_S = 300

Signer = Callable[[str], str]  # username -> assertion


def signer(secret: str, ttl_s: int = ASSERTION_TTL_S) -> Signer:
    def sign(username: str) -> str:
        now = int(time.time())
        return jwt.encode({"sub": username, "iat": now, "exp": now + ttl_s}, secret, algorithm="HS256")

    return sign


def render(copilot_url: str, username: str, object_type: str, object_id: str, assertion: str) -> str:
    values = {
        "COPILOT_URL": copilot_url.rstrip("/"), "USERNAME": username, "OBJECT_TYPE": object_type,
        "OBJECT_ID": object_id, "ASSERTION": assertion, "RECORD_LABEL": f"{object_type} #{object_id}",
    }  # fmt: skip
    text = PAGE.read_text(encoding="utf-8")
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", html.escape(value, quote=True))
    return text


def make_server(copilot_url: str, sign: Signer, port: int = 0, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    """The host page server (not started): GET /?user=NAME&object=TYPE:ID renders the page."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            url = urlsplit(self.path)
            if url.path not in ("/", "/index.html"):
                self.send_error(404)
                return
            query = parse_qs(url.query)
            username = query.get("user", [DEFAULT_USER])[0]
            object_type, _, object_id = query.get("object", [DEFAULT_OBJECT])[0].partition(":")
            body = render(copilot_url, username, object_type, object_id, sign(username)).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return ThreadingHTTPServer((host, port), Handler)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copilot", default="http://127.0.0.1:8000", help="the copilot's base URL")
    parser.add_argument("--secret", required=True, help="the copilot's EMBED_SECRET")
    parser.add_argument("--port", type=int, default=8100)
    parser.add_argument("--host", default="localhost")
    args = parser.parse_args()
    server = make_server(args.copilot, signer(args.secret), args.port, args.host)
    print(f"host CRM page: http://localhost:{args.port}/?user={DEFAULT_USER}&object={DEFAULT_OBJECT}")
    server.serve_forever()


if __name__ == "__main__":
    main()
