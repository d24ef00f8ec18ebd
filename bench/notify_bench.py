"""Notification benchmark: replays N Dataverse webhook calls for N cases with K connected chats each against
`python app.py` and a fake Bot Connector, then prints webhook acceptance latency, delivery time, messages/s,
the service's CPU, duplicates and losses. A second run SIGKILLs the service midway and restarts it.

    python -m bench.notify_bench --records 200 --chats 5             # SQLite
    python -m bench.notify_bench --database postgresql://postgres@127.0.0.1:5432/test
    python -m bench.notify_bench --database postgresql://... --replicas 2 --no-kill   # webhooks spread over two

Teams allows about 50 posts/s per tenant, so one tenant's N*K messages take at least N*K/50 s; --tenants spreads
the chats over more tenants. Webhooks that fail (the service is down) are retried, as Dataverse does."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import aiohttp
from aiohttp import web

from bench import procstat
from bench.seed import create_pg_database, drop_pg_database
from bench.targets import free_port
from store.connections import SqlConnectionStore
from store.db import Database, open_database
from store.migrations import migrate

ROOT = Path(__file__).resolve().parent.parent
DEMO = ROOT / "records" / "demo-directory.json"
KEY = "bench-webhook-key"
TEMPLATE_CASE = "5b8f1c3e-7a2d-ef11-8409-000d3a4b9c21"


@dataclass
class Connector:
    """Fake Bot Connector: records which card title reached which conversation, and when."""
    expected: int = 0
    arrivals: list[tuple[str, str, float]] = field(default_factory=list)
    by_tenant: dict[str, list[float]] = field(default_factory=dict)
    unique: set[tuple[str, str]] = field(default_factory=set)
    complete: asyncio.Event = field(default_factory=asyncio.Event)
    url: str = ""
    runner: web.AppRunner | None = None

    async def _post(self, request: web.Request) -> web.Response:
        body = await request.json()
        card = body["attachments"][0]["content"]
        key = (request.match_info["conv"], card["body"][0]["inlines"][0]["text"])
        now = time.monotonic()
        self.arrivals.append((*key, now))
        self.by_tenant.setdefault(str((body.get("conversation") or {}).get("tenantId", "")), []).append(now)
        self.unique.add(key)
        if len(self.unique) >= self.expected:
            self.complete.set()
        return web.json_response({"id": uuid.uuid4().hex})

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v3/conversations/{conv}/activities", self._post)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/"


def _directory(scratch: Path, n: int) -> Path:
    data = json.loads(DEMO.read_text(encoding="utf-8"))
    template = next(r for r in data["records"]["incident"] if r["id"] == TEMPLATE_CASE)
    data["records"]["incident"] += [dict(template, id=_rid(i), ticketnumber=f"CAS-B{i:05d}", title=f"Bench case {i}")
                                    for i in range(n)]
    path = scratch / "directory.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def _rid(i: int) -> str:
    return f"be000000-0000-4000-8000-{i:012d}"


def _chat(i: int, k: int) -> str:
    return f"19:bench-{i}-{k}@thread.v2"


async def _seed(url: str, n: int, k: int, tenants: int, service_url: str) -> None:
    from datetime import UTC, datetime

    from domain.model import ConversationRef
    db = await open_database(url)
    try:
        await migrate(db)
        now = datetime.now(UTC)
        async with db.transaction() as tx:  # one commit: seeding is not what is measured
            store = SqlConnectionStore(cast(Database, tx))
            for i in range(n):
                for j in range(k):
                    tenant = f"tenant-{(i * k + j) % tenants}"
                    await store.save_conversation(ConversationRef(service_url, _chat(i, j), tenant, "28:bench"))
                    await store.connect(tenant, "incident", _rid(i), _chat(i, j), "bench", now)
    finally:
        await db.close()


def _body(i: int) -> dict[str, Any]:
    """A RemoteExecutionContext shaped like ../shared/samples/dataverse-webhook-incident-update.json."""
    def entity(priority: str) -> dict[str, Any]:
        return {"Id": _rid(i), "LogicalName": "incident", "Attributes": [
            {"key": "prioritycode", "value": {"__type": "OptionSetValue:http://schemas.microsoft.com/xrm/2011/"
                                                        "Contracts", "Value": 1}}],
            "FormattedValues": [{"key": "prioritycode", "value": priority}]}
    return {"MessageName": "Update", "PrimaryEntityName": "incident", "PrimaryEntityId": _rid(i),
            "OperationId": str(uuid.uuid4()), "CorrelationId": str(uuid.uuid4()), "Stage": 40, "Depth": 1,
            "InitiatingUserId": "75c2dd85-e89e-e711-8122-000d3aa2331c",
            "OperationCreatedOn": f"/Date({int(time.time() * 1000)})/",
            "InputParameters": [{"key": "Target", "value": entity("High")}],
            "PreEntityImages": [{"key": "PreImage", "value": entity("Normal")}],
            "PostEntityImages": [{"key": "PostImage", "value": entity("High")}]}


class Service:
    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.env, self.log = env, log
        self.proc: subprocess.Popen[bytes] | None = None
        self.cpu = 0.0  # CPU seconds spent serving (start-up excluded), over every process so far
        self.rss = 0.0

    def spawn(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=self.env, stdout=out,
                                         stderr=subprocess.STDOUT)

    async def start(self) -> None:
        self.spawn()
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"http://127.0.0.1:{self.env['PORT']}/readyz") as resp:
                        if resp.status == 200:
                            assert self.proc
                            self.cpu -= procstat.cpu_seconds(self.proc.pid)  # start-up is not what we measure
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.05)
        raise SystemExit(f"the service did not start; see {self.log}")

    def _account(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.cpu += procstat.cpu_seconds(self.proc.pid)
            self.rss = max(self.rss, procstat.memory_mb(self.proc.pid))

    def kill(self) -> None:
        self._account()
        assert self.proc
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        self._account()
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)


async def _send(http: aiohttp.ClientSession, port: str, body: dict[str, Any]) -> tuple[float, float]:
    """Post until accepted (the service may be down for a moment); latency of the accepted call and when."""
    url = f"http://127.0.0.1:{port}/api/dataverse/webhook?code={KEY}"
    while True:
        started = time.monotonic()
        try:
            async with http.post(url, json=body) as resp:
                answer = await resp.json()
                if resp.status == 200 and answer["status"] in ("accepted", "duplicate"):
                    done = time.monotonic()
                    return done - started, done
        except (aiohttp.ClientError, ValueError):
            pass
        await asyncio.sleep(0.1)


async def run(args: argparse.Namespace, kill: bool) -> dict[str, Any]:
    scratch = Path(tempfile.mkdtemp(prefix="notify-bench-"))
    database = await _database(args.database, scratch)
    connector = Connector(expected=args.records * args.chats)
    await connector.start()
    await _seed(database, args.records, args.chats, args.tenants, connector.url)
    env = dict(os.environ, DATABASE_URL=database, RECORD_SOURCE=f"local:{_directory(scratch, args.records)}",
               DATAVERSE_WEBHOOK_KEY=KEY, PORT=str(free_port()), HOST="127.0.0.1", PUBLIC_URL="https://bench",
               GRAPH_AUTH="none")
    service = Service(env, scratch / "service.log")
    await service.start()
    # More replicas on the same database (PostgreSQL): webhooks are spread over them round-robin.
    others = [Service(dict(env, PORT=str(free_port())), scratch / f"service-{n}.log") for n in range(1, args.replicas)]
    for other in others:
        await other.start()
    ports = [env["PORT"], *(o.env["PORT"] for o in others)]
    accepted: dict[int, float] = {}
    latencies: list[float] = []
    killed = asyncio.Event()

    async def one(i: int, gate: asyncio.Semaphore, http: aiohttp.ClientSession) -> None:
        if args.rate > 0:  # an offered load, like a CRM's stream of updates, rather than a flood
            await asyncio.sleep(max(0.0, started + i / args.rate - time.monotonic()))
        async with gate:
            latency, at = await _send(http, ports[i % len(ports)], _body(i))
            latencies.append(latency)
            accepted[i] = at
            if kill and len(accepted) == args.records // 2 and not killed.is_set():
                killed.set()
                service.kill()  # mid-run: webhooks in flight fail and are retried, the outbox is mid-delivery
                await service.start()

    started = time.monotonic() + 0.1
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=args.concurrency)) as http:
        gate = asyncio.Semaphore(args.concurrency)
        await asyncio.gather(*(one(i, gate, http) for i in range(args.records)))
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(connector.complete.wait(), args.wait)
    await asyncio.sleep(1.0)  # anything doubled late still shows up
    service.stop()
    for other in others:
        other.stop()
        service.cpu += other.cpu
        service.rss = max(service.rss, other.rss)
    if connector.runner:
        await connector.runner.cleanup()
    await _drop(args.database, database)
    report = _report(args, kill, started, accepted, latencies, connector.arrivals, service)
    report["peak_tenant_per_s"] = max((busiest_second(t) for t in connector.by_tenant.values()), default=0)
    return report


def busiest_second(times: list[float]) -> int:
    """The most posts to one tenant within any one-second window (Teams allows about 50)."""
    times, best, first = sorted(times), 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        best = max(best, last - first + 1)
    return best


def _report(args: argparse.Namespace, kill: bool, started: float, accepted: dict[int, float], latencies: list[float],
            arrivals: list[tuple[str, str, float]], service: Service) -> dict[str, Any]:
    counts = Counter((c, t) for c, t, _ in arrivals)
    wanted = {(_chat(i, j), f"Case updated: Bench case {i}"): i for i in range(args.records) for j in range(args.chats)}
    first: dict[tuple[str, str], float] = {}
    for c, t, a in arrivals:
        first.setdefault((c, t), a)
    delays = sorted(first[key] - accepted[i] for key, i in wanted.items() if key in first)
    last = max((a for _, _, a in arrivals), default=started)
    ms = sorted(x * 1000 for x in latencies)
    return {
        "run": "kill -9 + restart midway" if kill else "steady", "database": args.database.split(":")[0],
        "replicas": args.replicas,
        "webhooks": args.records, "offered_per_s": args.rate or "flood", "chats_each": args.chats,
        "messages": len(wanted), "accept_p50_ms": _pct(ms, 50), "accept_p99_ms": _pct(ms, 99),
        "delivery_p50_s": _pct(delays, 50), "delivery_p99_s": _pct(delays, 99),
        "all_delivered_s": round(last - started, 2),
        "msgs_per_s": round(len(counts) / max(1e-9, last - started), 1),
        "cpu_s": round(service.cpu, 2), "cpu_pct_of_core": round(100 * service.cpu / max(1e-9, last - started), 1),
        "cpu_ms_per_msg": round(1000 * service.cpu / max(1, len(counts)), 2), "peak_rss_mb": round(service.rss, 1),
        "duplicates": sum(n - 1 for n in counts.values() if n > 1), "losses": len(set(wanted) - set(counts)),
    }


def _pct(values: list[float], p: int) -> float:
    if not values:
        return float("nan")
    return round(values[min(len(values) - 1, int(len(values) * p / 100))], 3)


async def _database(spec: str, scratch: Path) -> str:
    if spec == "sqlite":
        return f"sqlite:///{scratch}/bench.db"
    return await create_pg_database(spec, prefix="notify_bench")


async def _drop(spec: str, url: str) -> None:
    if spec != "sqlite":
        await drop_pg_database(spec, url)


def _print(rows: list[dict[str, Any]]) -> None:
    keys = list(rows[0])
    width = max(len(k) for k in keys)
    for key in keys:
        print(f"{key:<{width}}  " + "  ".join(f"{r[key]!s:>24}" for r in rows))
    print("(duplicates and losses must be 0; a kill -9 between a post and its `done` write may repeat that one "
          "message)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=200, help="webhook calls, one case each (N)")
    parser.add_argument("--chats", type=int, default=5, help="connected chats per case (K)")
    parser.add_argument("--tenants", type=int, default=1, help="Teams tenants the chats are spread over")
    parser.add_argument("--concurrency", type=int, default=16, help="webhook calls in flight at most")
    parser.add_argument("--rate", type=float, default=50.0, help="webhook calls offered per second (0: flood)")
    parser.add_argument("--database", default="sqlite", help="sqlite, or a PostgreSQL URL to create a database on")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to wait for every message")
    parser.add_argument("--no-kill", action="store_true", help="skip the kill -9 run")
    parser.add_argument("--replicas", type=int, default=1, help="services on the same database (PostgreSQL)")
    args = parser.parse_args()
    if args.replicas > 1 and args.database == "sqlite":
        parser.error("--replicas needs --database postgresql://... (SQLite is for one process)")
    rows = [asyncio.run(run(args, kill=False))]
    if not args.no_kill:
        rows.append(asyncio.run(run(args, kill=True)))
    _print(rows)


if __name__ == "__main__":
    main()
