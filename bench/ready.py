"""Readiness and memory at rest: start the service several times, time spawn -> first GET /healthz 200.

    python -m bench.ready [--samples 5] [--targets service-sqlite,service-pg]

Each target gets one database, migrated before the first sample (a restart, not a first install): a SQLite file in
a temporary directory, or a fresh PostgreSQL database next to BENCH_PG_URL, dropped at the end. Per sample: the
ready time (polled every 20 ms), the Graph gateway's own start-up time from its log line and VmRSS once ready.
RSS after load is bench.run's `RSS peak MB` column.

Then the first Graph calls after a cold start (`--graph-samples`, 0 to skip): a fresh interpreter imports the
gateway, starts it against a local fake Graph (this process, loopback) and times its first call (POST /chats),
the next one (GET /chats/{id}) and its VmRSS.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import procstat, seed, targets
from store.db import open_database
from store.migrations import migrate

_GRAPH = re.compile(r"Graph gateway ready .* in ([\d.]+) s")


async def _migrated(url: str) -> None:
    db = await open_database(url)
    try:
        await migrate(db)
    finally:
        await db.close()


def sample(t: targets.Target, work: Path) -> tuple[float, float, float]:
    """(ready s, Graph gateway start s, VmRSS MB at rest) of one start."""
    port = targets.free_port()
    argv, env = t.build(port, work)
    log = work / f"log-{port}.txt"
    run = targets.start(argv, env, port, t.ready_path, log)
    try:
        time.sleep(0.2)  # let the start-up log line reach the file
        rss = procstat.memory_mb(run.proc.pid, "VmRSS")
    finally:
        targets.stop(run.proc)
    found = _GRAPH.search(targets.tail(log, 20_000))
    return run.ready_s, float(found.group(1)) if found else float("nan"), rss


_FIRST_CALL = """
import asyncio, json, sys, time
began = time.perf_counter()
from graph.gateway import GraphGateway
async def main():
    gw = GraphGateway(sys.argv[1], "none", "catalog", None)
    await gw.start()
    started = time.perf_counter()
    await gw.create_chat("first", ["aaaaaaaa-0000-4000-8000-000000000001", "bbbbbbbb-0000-4000-8000-000000000002"])
    first = time.perf_counter()
    await gw.chat_title("19:bench@thread.v2")
    second = time.perf_counter()
    rss = next(int(x.split()[1]) / 1024 for x in open("/proc/self/status") if x.startswith("VmRSS"))
    print(json.dumps([started - began, first - started, second - first, rss]))
    await gw.close()
asyncio.run(main())
"""


async def _fake_graph() -> tuple[Any, str]:
    from aiohttp import web

    async def create(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"id": "19:bench@thread.v2", "chatType": "group"}, status=201)

    async def chat(request: web.Request) -> web.Response:
        return web.json_response({"id": request.match_info["id"], "topic": "Bench", "chatType": "group"})

    app = web.Application()
    app.router.add_post("/v1.0/chats", create)
    app.router.add_get("/v1.0/chats/{id}", chat)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = targets.free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/v1.0"


async def first_graph_calls(samples: int) -> list[list[float]]:
    """[start s, first call s, second call s, RSS MB] per cold interpreter."""
    runner, url = await _fake_graph()
    out = []
    try:
        for _ in range(samples):
            proc = await asyncio.create_subprocess_exec(sys.executable, "-c", _FIRST_CALL, url, cwd=targets.ROOT,
                                                        stdout=asyncio.subprocess.PIPE)
            stdout, _ = await proc.communicate()
            out.append(json.loads(stdout.decode().strip().splitlines()[-1]))
    finally:
        await runner.cleanup()
    return out


def _line(name: str, values: list[float], unit: str) -> str:
    cells = ", ".join(f"{v:.2f}" for v in values)
    return (f"  {name:<16} median {statistics.median(values):.2f} {unit}, min {min(values):.2f}, "
            f"max {max(values):.2f}  [{cells}]")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--targets", default="service-sqlite,service-pg")
    p.add_argument("--graph-samples", type=int, default=5, help="cold starts timing the first Graph calls (0: none)")
    args = p.parse_args()
    print(f"load average before: {os.getloadavg()[0]:.2f} ({os.cpu_count()} CPUs)", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-ready-") as tmp:
        for name in args.targets.split(","):
            t = targets.TARGETS[name]
            if reason := t.skip():
                print(f"skipped {name}: {reason}")
                continue
            pg = name == "service-pg"
            url = asyncio.run(seed.create_pg_database(targets.PG_URL)) if pg else f"sqlite:///{tmp}/{name}.db"
            try:
                asyncio.run(_migrated(url))
                runs = [sample(targets.with_database(t, url), Path(tmp)) for _ in range(args.samples)]
            finally:
                if pg:
                    asyncio.run(seed.drop_pg_database(targets.PG_URL, url))
            print(f"{name} ({args.samples} starts):")
            print(_line("ready", [r[0] for r in runs], "s"))
            print(_line("graph start", [r[1] for r in runs], "s"))
            print(_line("RSS at rest", [r[2] for r in runs], "MB"))
    if args.graph_samples:
        calls = asyncio.run(first_graph_calls(args.graph_samples))
        print(f"Graph gateway, cold interpreter ({args.graph_samples} starts, fake Graph on loopback):")
        print(_line("import + start", [c[0] for c in calls], "s"))
        print(_line("first call", [c[1] * 1000 for c in calls], "ms"))
        print(_line("second call", [c[2] * 1000 for c in calls], "ms"))
        print(_line("RSS after", [c[3] for c in calls], "MB"))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
