"""Held-out probe: run probe/cases.yaml against a CRM Copilot tree through its public HTTP API.

Usage (from anywhere):
  /work/main/.venv/bin/python probe/run_probe.py --tree /path/to/tree [--bin /work/main/.venv/bin]
      [--only t01,r05] [--out probe/results.json]
The tree must have its demo built (`crm-copilot demo init` run in the tree with
CRM_COPILOT_TODAY=2026-11-20).  The probe starts `crm-copilot serve` in the tree (PYTHONPATH=tree,
CRM_COPILOT_TODAY=2026-11-20, a random free port), gets a token per user with `crm-copilot token`,
POSTs every case to /v1/assist and stops the server.

Scoring
  lookups (ticket_lookup, record_lookup): `ids_ok` = the set of data.rows ids equals the expected
    set (or an accepted alternative), or -- when the answer shows one page -- data.total equals the
    expected count and every shown id is expected.  `pass` = ids_ok and the expected skill answered
    (a record lookup may be answered by record_qa or a skill named *lookup*).
  next_best_action: top action (actions[0]) kind is in acceptable_kinds; `strict` = equals expected_kind.
  routing: answered skill equals the expected skill.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
TODAY = "2026-11-20"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def env_for(tree: Path) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PYTHONPATH=str(tree),
        CRM_COPILOT_TODAY=TODAY,
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        ANONYMIZED_TELEMETRY="False",
        RAGAS_DO_NOT_TRACK="true",
        TOKENIZERS_PARALLELISM="false",
    )
    env.pop("CRM_COPILOT_LLM_PROVIDER", None)
    return env


def post(url: str, token: str, body: dict) -> tuple[int, dict]:
    req = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Authorization": f"Bearer {token}", "content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read())
        except Exception:
            return e.code, {}


def row_ids(res: dict) -> list:
    data = res.get("data") or {}
    return [r.get("id") for r in data.get("rows") or [] if isinstance(r, dict)]


def score(case: dict, status: int, res: dict) -> dict:
    got_skill = res.get("skill")
    out: dict = {
        "id": case["id"],
        "category": case["category"],
        "user": case["user"],
        "message": case["message"],
        "object": case.get("object"),
        "status": status,
        "skill": got_skill,
    }
    cat = case["category"]
    if cat in ("ticket_lookup", "record_lookup"):
        ids = row_ids(res)
        total = (res.get("data") or {}).get("total")
        accepted = [case["expected_ids"], *case.get("alt_expected_ids", [])]
        got = set(ids)
        ok = any(got == set(a) for a in accepted) or any(
            total == len(a) and len(ids) < total and got <= set(a) and len(ids) == len(got) for a in accepted
        )
        if cat == "ticket_lookup":
            skill_ok = got_skill == "ticket_lookup"
        else:
            skill_ok = got_skill == case["skill"] or "lookup" in str(got_skill)
        strict = got == set(case["expected_ids"]) or (
            total == len(case["expected_ids"]) and len(ids) < total and got <= set(case["expected_ids"])
        )
        out.update(
            strict_ids=strict,
            expected_ids=case["expected_ids"],
            alt_expected_ids=case.get("alt_expected_ids", []),
            got_ids=sorted(ids, key=str),
            total=total,
            ids_ok=ok,
            skill_ok=skill_ok,
            passed=ok and skill_ok,
        )
    elif cat == "next_best_action":
        kinds = [a.get("kind") for a in res.get("actions") or []]
        top = kinds[0] if kinds else None
        out.update(
            expected_kind=case["expected_kind"],
            acceptable_kinds=case["acceptable_kinds"],
            got_kinds=kinds,
            strict=top == case["expected_kind"],
            passed=top in case["acceptable_kinds"],
            skill_ok=got_skill == "next_best_action",
        )
    else:
        out.update(expected_skill=case["skill"], passed=got_skill == case["skill"])
    return out


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--tree", default=str(HERE.parent))
    ap.add_argument("--bin", default=str(Path(sys.executable).parent))
    ap.add_argument("--cases", default=str(HERE / "cases.yaml"))
    ap.add_argument("--out", default=str(HERE / "results.json"))
    ap.add_argument("--only", default="")
    a = ap.parse_args()
    tree = Path(a.tree).resolve()
    cli = str(Path(a.bin) / "crm-copilot")
    env = env_for(tree)
    with open(a.cases, encoding="utf-8") as f:
        cases = yaml.safe_load(f)
    if a.only:
        keep = set(a.only.split(","))
        cases = [c for c in cases if c["id"] in keep]
    tokens = {
        u: subprocess.run([cli, "token", u], cwd=tree, env=env, check=True, capture_output=True, text=True)
        .stdout.strip()
        .splitlines()[-1]
        for u in sorted({c["user"] for c in cases})
    }
    port = free_port()
    log = open(HERE / "server.log", "w")  # noqa: SIM115  (the server writes to it until the end)
    srv = subprocess.Popen(
        [cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=tree,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except Exception:
                if srv.poll() is not None:
                    raise SystemExit("server exited; see probe/server.log") from None
                time.sleep(1)
        results = []
        for c in cases:
            body: dict = {"message": c["message"]}
            if c.get("object"):
                t, i = c["object"].split(":")
                body["context"] = {"object_type": t, "object_id": int(i)}
            t0 = time.time()
            status, res = post(base + "/v1/assist", tokens[c["user"]], body)
            r = score(c, status, res)
            r["seconds"] = round(time.time() - t0, 2)
            results.append(r)
    finally:
        srv.terminate()
        srv.wait(timeout=30)
    summary: dict = {}
    for cat in ("ticket_lookup", "record_lookup", "next_best_action", "routing"):
        rs = [r for r in results if r["category"] == cat]
        if not rs:
            continue
        s = {"n": len(rs), "passed": sum(r["passed"] for r in rs)}
        if cat.endswith("lookup"):
            s["ids_ok"] = sum(r["ids_ok"] for r in rs)
            s["skill_ok"] = sum(r["skill_ok"] for r in rs)
            s["strict_ids_and_skill"] = sum(r["strict_ids"] and r["skill_ok"] for r in rs)
        if cat == "next_best_action":
            s["strict"] = sum(r["strict"] for r in rs)
        summary[cat] = s
    with open(a.out, "w", encoding="utf-8") as f:
        json.dump({"tree": str(tree), "summary": summary, "results": results}, f, ensure_ascii=False, indent=1)
    for cat, s in summary.items():
        print(cat, json.dumps(s))
    print("\nFAILURES")
    for r in results:
        if r["passed"]:
            continue
        if r["category"].endswith("lookup"):
            exp, got = r["expected_ids"], r["got_ids"]
            print(
                f"- {r['id']} [{r['user']}] {r['message']!r}: skill={r['skill']} total={r['total']} "
                f"expected={exp} alt={r['alt_expected_ids']} got={got}"
            )
        elif r["category"] == "next_best_action":
            print(
                f"- {r['id']} [{r['user']}] {r['object']}: expected {r['acceptable_kinds']} "
                f"got {r['got_kinds']} (skill={r['skill']})"
            )
        else:
            print(
                f"- {r['id']} [{r['user']}] {r['message']!r} {r['object'] or ''}: "
                f"expected {r['expected_skill']} got {r['skill']} (HTTP {r['status']})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
