"""Load under slow failures: N clients mixing the endpoints against a real uvicorn on loopback.

Three scenarios, one after another, on one demo organisation: the offline provider; a fake
OpenAI-compatible model that answers every request after 5 s; and one that black-holes (reads the
request, never answers). Every client loops over a fixed, seeded mix of endpoints (a turn on a page, a
routed turn, the OpenAI-compatible endpoint, KB search, the skills list, feedback with an
Idempotency-Key) for the scenario's duration. Reported per scenario: requests and status codes per
endpoint, p50/p95/p99 latency, every 5xx, and the process's RSS / threads / open fds at the start, after
about a minute (when the run is that long) and at the end. The fake model and the clients run in this
process too, so RSS and threads include them. Loopback only; bounded by --seconds.

    python bench/load.py [--clients 20] [--seconds 20] [--scenarios offline,slow,blackhole]
                         [--data-dir data/bench/load] [--out bench/results/load.json]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import socket
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx

PAGE = {"object_type": "opportunity", "object_id": 1}
# (endpoint name, weight): turns dominate, as in use; feedback follows a turn of the same client.
MIX = [("assist_page", 4), ("assist_routed", 2), ("chat_completions", 2), ("kb_search", 3), ("skills", 1)]


def pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)


def process_stats() -> dict[str, float]:
    rss_kb = 0
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss_kb = int(line.split()[1])
    return {
        "rss_mb": round(rss_kb / 1024, 1),
        "threads": len(os.listdir("/proc/self/task")),
        "fds": len(os.listdir("/proc/self/fd")),
    }


@contextmanager
def serve(app: Any) -> Iterator[str]:
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on", limit_concurrency=200))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def request_for(name: str, rng: random.Random) -> tuple[str, str, dict[str, Any] | None]:
    if name == "assist_page":
        return (
            "POST",
            "/v1/assist",
            {"message": "这个商机现在到哪个阶段了，金额多少？", "skill": "record_qa", "context": PAGE},
        )
    if name == "assist_routed":
        message = rng.choice(["what should I do next on this deal?", "帮我给客户写个跟进回复"])
        return "POST", "/v1/assist", {"message": message, "context": PAGE}
    if name == "chat_completions":
        body = {
            "model": "crm-copilot",
            "messages": [{"role": "user", "content": "这个商机的金额是多少？"}],
            "skill": "record_qa",
            "context": PAGE,
        }
        return "POST", "/v1/chat/completions", body
    if name == "kb_search":
        return "POST", "/v1/kb/search", {"query": rng.choice(["LC-3015 交期", "E-204 报警", "warranty terms"])}
    return "GET", "/v1/skills", None


def error_code(response: httpx.Response) -> str:
    """The JSON error code of a 5xx (``database_busy``, ``kb_busy``, ``internal_error``), for the report."""
    try:
        return str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        return "not_json"


def client_loop(
    base: str, token: str, until: float, seed: int, record: Callable[[str, int, float, str], None]
) -> None:
    rng = random.Random(seed)
    names = [n for n, w in MIX for _ in range(w)]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=120.0) as http:
        while time.monotonic() < until:
            name = rng.choice(names)
            method, path, body = request_for(name, rng)
            t0 = time.perf_counter()
            try:
                r = http.request(method, path, json=body)
                status = r.status_code
            except httpx.HTTPError as exc:
                status = 0  # no answer at all: counted apart from 5xx
                r = None
                record(f"no_answer:{type(exc).__name__}", 0, (time.perf_counter() - t0) * 1000, "")
            record(name, status, (time.perf_counter() - t0) * 1000,
                   error_code(r) if r is not None and status >= 500 else "")
            if r is not None and status == 200 and path == "/v1/assist" and time.monotonic() < until:
                trace = r.json().get("trace_id")
                fb = {"trace_id": trace, "rating": rng.choice(["up", "down"])}
                t0 = time.perf_counter()
                try:
                    f = http.post("/v1/feedback", json=fb, headers={"Idempotency-Key": f"{trace}-{fb['rating']}"})
                    fstatus, fcode = f.status_code, error_code(f) if f.status_code >= 500 else ""
                except httpx.HTTPError:
                    fstatus, fcode = 0, ""
                record("feedback", fstatus, (time.perf_counter() - t0) * 1000, fcode)


def run_scenario(name: str, data_dir: Path, clients: int, seconds: float, tokens: list[str]) -> dict[str, Any]:
    from copilot.api.app import create_app
    from copilot.core.settings import Settings
    from copilot.service.runtime import Runtime
    from tests.fakes.openai_server import FakeOpenAIServer

    fake: FakeOpenAIServer | None = None
    base_settings: dict[str, Any] = {"data_dir": data_dir, "chroma_path": data_dir / "chroma", "rate_limit": ""}
    if name == "offline":
        settings = Settings(**base_settings)
    else:
        fake = FakeOpenAIServer(default_text="商机处于方案阶段，金额见记录。").start()
        if name == "slow":
            fake.sleep(5.0, then="商机处于方案阶段，金额见记录。", times=100_000)
        else:
            fake.black_hole(times=100_000)
        settings = fake.settings(**base_settings, llm_timeout_s=30.0, llm_deadline_s=30.0, turn_deadline_s=45.0)
    runtime = Runtime(settings)
    lock = threading.Lock()
    samples: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter[int]] = defaultdict(Counter)

    codes: Counter[str] = Counter()  # "503 database_busy" → count: what each 5xx said

    def record(endpoint: str, status: int, ms: float, code: str) -> None:
        with lock:
            samples[endpoint].append(ms)
            statuses[endpoint][status] += 1
            if code:
                codes[f"{status} {code}"] += 1

    stats: dict[str, dict[str, float]] = {"start": process_stats()}
    try:
        with serve(create_app(runtime)) as base:
            until = time.monotonic() + seconds
            threads = [
                threading.Thread(
                    target=client_loop, args=(base, tokens[i % len(tokens)], until, i, record), daemon=True
                )
                for i in range(clients)
            ]
            for t in threads:
                t.start()
            if seconds >= 70:
                time.sleep(60)
                stats["1min"] = process_stats()
            for t in threads:
                t.join(timeout=seconds + 180)
            stats["end"] = process_stats()
    finally:
        runtime.close()
        if fake is not None:
            fake.stop()
    endpoints = {
        ep: {
            "requests": len(values),
            "status": {str(k): v for k, v in sorted(statuses[ep].items())},
            "p50_ms": pct(values, 0.5),
            "p95_ms": pct(values, 0.95),
            "p99_ms": pct(values, 0.99),
        }
        for ep, values in sorted(samples.items())
    }
    five_xx = sum(v for c in statuses.values() for k, v in c.items() if k >= 500)
    no_answer = sum(c.get(0, 0) for c in statuses.values())
    return {
        "clients": clients,
        "seconds": seconds,
        "endpoints": endpoints,
        "5xx": five_xx,
        "5xx_codes": dict(sorted(codes.items())),
        "no_answer": no_answer,
        "process": stats,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--scenarios", default="offline,slow,blackhole")
    parser.add_argument("--data-dir", type=Path, default=Path("data/bench/load"))
    parser.add_argument("--out", type=Path, default=Path("bench/results/load.json"))
    args = parser.parse_args()
    if not 1 <= args.clients <= 100 or not 1 <= args.seconds <= 600:
        parser.error("--clients 1..100 and --seconds 1..600: this benchmark is bounded")

    from copilot.core.settings import Settings
    from copilot.demo.install import init_demo
    from copilot.service.runtime import Runtime
    from copilot.store.tokens import issue_token

    data_dir = args.data_dir.resolve()
    setup = Runtime(Settings(data_dir=data_dir, chroma_path=data_dir / "chroma"))
    init_demo(setup, reset=True)
    with setup.sessions() as session:
        tokens = [issue_token(session, user) for user in ("rep_east_1", "sales_mgr_east", "admin")]
        session.commit()
    setup.close()

    report: dict[str, Any] = {"scenarios": {}}
    for name in args.scenarios.split(","):
        print(f"== {name}: {args.clients} clients, {args.seconds:.0f} s", flush=True)
        result = run_scenario(name, data_dir, args.clients, args.seconds, tokens)
        report["scenarios"][name] = result
        print(f"   5xx {result['5xx']}, no answer {result['no_answer']}, process {result['process']}")
        for ep, row in result["endpoints"].items():
            print(
                f"   {ep:17} n={row['requests']:5} {row['status']}  p50 {row['p50_ms']:8.1f}  "
                f"p95 {row['p95_ms']:8.1f}  p99 {row['p99_ms']:8.1f} ms"
            )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, ensure_ascii=False, indent=2))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
