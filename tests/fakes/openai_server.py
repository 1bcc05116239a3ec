"""A real OpenAI-compatible HTTP server for tests, scripted per test.

It listens on a free 127.0.0.1 port (``http.server`` in a background thread) and implements
``POST /v1/chat/completions`` (plain JSON, and ``stream: true`` as Server-Sent Events ending in
``[DONE]``) and ``GET /v1/models``. Every request body is recorded, so a test can assert what did — and
did not — reach the "model" (for example that no phone number ever left the process).

Use it from any test package by importing the fixture into that package's ``conftest.py``::

    from tests.fakes.openai_server import fake_openai  # noqa: F401  (registers the fixture)

    def test_something(fake_openai):
        fake_openai.reply("你好")                       # next request gets this text
        fake_openai.reply("你好", chunk_delay_s=0.1)    # …streamed slowly, one chunk every 0.1 s
        fake_openai.error(429, retry_after=1)           # …or an error status first
        settings = fake_openai.settings(llm_max_retries=2)   # Settings pointing at this server
        ...
        assert "13812345678" not in fake_openai.all_request_text()

Behaviours are consumed in order, one per request; with the queue empty the server answers
``default_text``. Slow failures: ``trickle`` (one piece every few seconds, streamed or as a slowly written
JSON body), ``black_hole`` (reads the request, never answers), ``cut_stream`` (a stream that stops before
the model's finish chunk and ``[DONE]``). ``unsupported_formats`` makes it answer 400 to those
``response_format`` types, as endpoints without structured-output support do (this does not consume the queue).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

MODEL = "fake-model"


@dataclass
class Behaviour:
    kind: str  # text | echo | status | tool_call | garbage_body | malformed_sse | black_hole | cut_stream
    text: str = ""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    chunk_size: int = 4
    # Pause before each streamed chunk: a model that writes slowly, so tests can see tokens arrive live.
    chunk_delay_s: float = 0.0


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: Any
    raw: str
    at: float


class FakeOpenAIServer:
    def __init__(self, default_text: str = "fake answer") -> None:
        self.default_text = default_text
        self.unsupported_formats: set[str] = set()
        self.requests: list[RecordedRequest] = []
        self._queue: deque[Behaviour] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()  # black holes end when the server stops
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------------

    def start(self) -> FakeOpenAIServer:
        server = self

        class Handler(_Handler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-openai", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeOpenAIServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}/v1"

    def settings(self, **overrides: Any) -> Any:
        """A ``copilot.core.settings.Settings`` that points the openai provider at this server."""
        from copilot.core.settings import Settings

        values: dict[str, Any] = {
            "llm_provider": "openai",
            "openai_base_url": self.base_url,
            "openai_api_key": "test-key",
            "llm_model": MODEL,
            "llm_timeout_s": 5.0,  # generous: shared CI machines are slow; timeout tests set their own
            "llm_max_retries": 2,
            "llm_breaker_failures": 3,
            "llm_breaker_reset_s": 30.0,
        }
        values.update(overrides)
        return Settings(**values)

    # --- scripting ---------------------------------------------------------------------------------

    def _push(self, behaviour: Behaviour, times: int = 1) -> FakeOpenAIServer:
        with self._lock:
            for _ in range(times):
                self._queue.append(behaviour)
        return self

    def reply(
        self, text: str, *, chunk_size: int = 4, delay_s: float = 0.0, chunk_delay_s: float = 0.0
    ) -> FakeOpenAIServer:
        """Answer with this text (streamed in ``chunk_size``-character deltas when the request streams,
        ``chunk_delay_s`` apart)."""
        return self._push(
            Behaviour("text", text=text, chunk_size=chunk_size, delay_s=delay_s, chunk_delay_s=chunk_delay_s)
        )

    def trickle(self, text: str, *, every_s: float, chunk_size: int = 1, times: int = 1) -> FakeOpenAIServer:
        """A model that writes ``chunk_size`` characters every ``every_s`` seconds; a non-streamed answer is
        a JSON body written the same way (each read returns in time, the call never ends in time)."""
        return self._push(Behaviour("text", text=text, chunk_size=chunk_size, chunk_delay_s=every_s), times)

    def black_hole(self, *, times: int = 1) -> FakeOpenAIServer:
        """Read the request and never answer (until the server stops)."""
        return self._push(Behaviour("black_hole"), times)

    def cut_stream(self, text: str, *, chunk_size: int = 4, times: int = 1) -> FakeOpenAIServer:
        """Stream ``text`` as valid chunks, then close without the finish chunk or ``[DONE]``."""
        return self._push(Behaviour("cut_stream", text=text, chunk_size=chunk_size), times)

    def reply_json(self, value: Any) -> FakeOpenAIServer:
        return self.reply(json.dumps(value, ensure_ascii=False))

    def echo(self, *, chunk_size: int = 4) -> FakeOpenAIServer:
        """Answer with the last user message, placeholders and all: shows what the model was sent."""
        return self._push(Behaviour("echo", chunk_size=chunk_size))

    def error(
        self, status: int, *, times: int = 1, retry_after: float | None = None, message: str = "fake error"
    ) -> FakeOpenAIServer:
        headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
        return self._push(Behaviour("status", status=status, text=message, headers=headers), times)

    def sleep(self, seconds: float, *, then: str = "too late", times: int = 1) -> FakeOpenAIServer:
        """Wait before answering (longer than the client's timeout, to make it time out)."""
        return self._push(Behaviour("text", text=then, delay_s=seconds), times)

    def reply_tool_call(self, name: str, arguments: dict[str, Any] | None = None) -> FakeOpenAIServer:
        """Answer (non-streaming) with one function tool call instead of text."""
        return self._push(Behaviour("tool_call", text=name, headers={"arguments": json.dumps(arguments or {})}))

    def garbage_body(self) -> FakeOpenAIServer:
        """HTTP 200 whose body is not JSON at all."""
        return self._push(Behaviour("garbage_body"))

    def malformed_sse(self, *, good_text: str = "", chunk_delay_s: float = 0.0) -> FakeOpenAIServer:
        """A stream that sends ``good_text`` as valid chunks, then a broken ``data:`` line."""
        return self._push(Behaviour("malformed_sse", text=good_text, chunk_delay_s=chunk_delay_s))

    # --- inspection --------------------------------------------------------------------------------

    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def all_request_text(self) -> str:
        """Every byte of every request body received, decoded: the haystack for 'did X leak?'."""
        return "\n".join(r.raw for r in self.requests)

    def _next(self) -> Behaviour:
        with self._lock:
            return self._queue.popleft() if self._queue else Behaviour("text", text=self.default_text)


def _completion(text: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:12]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop", "logprobs": None}
        ],
        "usage": {
            "prompt_tokens": 11,
            "completion_tokens": max(1, len(text) // 2),
            "total_tokens": 11 + len(text) // 2,
        },
    }


def _chunk(cid: str, delta: dict[str, Any], finish: str | None = None) -> bytes:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": MODEL,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }
    return f"data: {json.dumps(body, ensure_ascii=False)}\n\n".encode()


class _Handler(BaseHTTPRequestHandler):
    fake: FakeOpenAIServer
    protocol_version = "HTTP/1.0"  # one request per connection: the body simply ends when we close

    def log_message(self, format: str, *args: Any) -> None:  # keep pytest output clean
        pass

    def _record(self, body: Any, raw: str) -> None:
        self.fake.requests.append(
            RecordedRequest(
                self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw, time.monotonic()
            )
        )

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._record(None, "")
        if self.path.rstrip("/").endswith("/models"):
            self._send_json(
                200, {"object": "list", "data": [{"id": MODEL, "object": "model", "created": 0, "owned_by": "fake"}]}
            )
        else:
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = None
        self._record(body, raw)
        if not self.path.rstrip("/").endswith("/chat/completions") or not isinstance(body, dict):
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        fmt = (body.get("response_format") or {}).get("type")
        if fmt in self.fake.unsupported_formats:
            self._send_json(
                400,
                {
                    "error": {
                        "message": f"response_format {fmt} is not supported by this model",
                        "type": "invalid_request_error",
                    }
                },
            )
            return
        b = self.fake._next()
        try:
            if b.delay_s:
                time.sleep(b.delay_s)
            self._respond(b, body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test): nothing to answer

    def _respond(self, b: Behaviour, body: dict[str, Any]) -> None:
        if b.kind == "black_hole":
            self.fake._stopping.wait(300)
            return
        if b.kind == "status":
            err = {"error": {"message": b.text, "type": "server_error" if b.status >= 500 else "rate_limit_error"}}
            self._send_json(b.status, err, b.headers)
            return
        if b.kind == "tool_call":
            completion = _completion("")
            message = completion["choices"][0]["message"]
            message["content"] = None
            message["tool_calls"] = [
                {"id": "call_1", "type": "function", "function": {"name": b.text, "arguments": b.headers["arguments"]}}
            ]
            completion["choices"][0]["finish_reason"] = "tool_calls"
            self._send_json(200, completion)
            return
        if b.kind == "garbage_body":
            data = b"<html>502 Bad Gateway from a proxy that lies: 200</html>"
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        text = b.text
        if b.kind == "echo":
            users = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "user"]
            text = users[-1] if users else ""
        if not body.get("stream"):
            if b.chunk_delay_s:
                self._trickle_json(_completion(text), b)
            else:
                self._send_json(200, _completion(text))
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        self.wfile.write(_chunk(cid, {"role": "assistant", "content": ""}))
        size = max(1, b.chunk_size)
        for i in range(0, len(text), size):
            if b.chunk_delay_s:
                time.sleep(b.chunk_delay_s)
            self.wfile.write(_chunk(cid, {"content": text[i : i + size]}))
            self.wfile.flush()
        if b.kind == "cut_stream":
            return  # the connection closes here: no finish chunk, no [DONE]
        if b.kind == "malformed_sse":
            self.wfile.write(b'data: {"id": "broken", "choices": [{"delta": {"content": "tru\n\n')
            self.wfile.flush()
            return
        self.wfile.write(_chunk(cid, {}, finish="stop"))
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


    def _trickle_json(self, payload: Any, b: Behaviour) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        step = max(1, b.chunk_size)
        for i in range(0, len(data), step):
            if self.fake._stopping.wait(b.chunk_delay_s):
                return
            self.wfile.write(data[i : i + step])
            self.wfile.flush()


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAIServer]:
    """A started fake OpenAI-compatible server, stopped after the test."""
    with FakeOpenAIServer() as server:
        yield server


# --- additions: a scripted judge and an embeddings endpoint (for eval/judged.py's tests) ----------------


def _embedding(text: str, dims: int = 16) -> list[float]:
    """A deterministic unit vector from the text's words: the same words, the same vector."""
    import hashlib
    import math

    vec = [0.0] * dims
    for word in text.lower().split() or [""]:
        h = hashlib.sha1(word.encode()).digest()
        for i in range(dims):
            vec[i] += h[i % len(h)] / 255.0
    norm = math.sqrt(sum(v * v for v in vec)) or 1.0
    return [v / norm for v in vec]


def _embeddings_response(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    texts = [inputs] if isinstance(inputs, str) else list(inputs or [])
    data = [{"object": "embedding", "index": i, "embedding": _embedding(str(t))} for i, t in enumerate(texts)]
    usage = {"prompt_tokens": 1, "total_tokens": 1}
    return {"object": "list", "data": data, "model": body.get("model", MODEL), "usage": usage}


class JudgeServer(FakeOpenAIServer):
    """A fake judge: ``responder(body) -> text`` answers every chat request (``n`` choices when asked),
    and ``POST /v1/embeddings`` returns deterministic vectors. Everything else is the fake server's."""

    def __init__(self, responder: Any, default_text: str = "fake answer") -> None:
        super().__init__(default_text)
        self.responder = responder

    def start(self) -> JudgeServer:
        server = self

        class Handler(_JudgeHandler):
            fake = server

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="fake-judge", daemon=True)
        self._thread.start()
        return self


class _JudgeHandler(_Handler):
    fake: JudgeServer

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8", "replace")
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = None
        self._record(body, raw)
        path = self.path.rstrip("/")
        if path.endswith("/embeddings") and isinstance(body, dict):
            self._send_json(200, _embeddings_response(body))
            return
        if not path.endswith("/chat/completions") or not isinstance(body, dict):
            self._send_json(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
            return
        completion = _completion("")
        n = max(1, int(body.get("n") or 1))
        completion["choices"] = [
            {"index": i, "message": {"role": "assistant", "content": self.fake.responder(body)},
             "finish_reason": "stop", "logprobs": None}
            for i in range(n)
        ]
        self._send_json(200, completion)
