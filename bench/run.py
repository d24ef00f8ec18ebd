"""Run the benchmark: fake Bot Connector + each target in alternating rounds; print figures and ratios.

    python -m bench.run [--seconds S] [--rounds R] [--targets bare,stock,service-sqlite,service-pg]
                        [--text records] [--seed-connections 1000000] [--invoke-body '{...}']

Per target and round: start on a free port (ready time), warm up, saturate with 16 connections (wrk with
bench/teams.lua, or the Python closed loop without wrk) measuring throughput, latency percentiles and CPU per
turn, then offer a fixed --rate (open loop, default 200/s) for p50/p99/max, optionally the same rate of
card-button invokes (--invoke-body), and read peak RSS (VmHWM). --seed-connections N first seeds one database per
service target with N connections (bench/seed.py; the benchmark's groupChats among the connected chats) and runs
every round of that target on it; a seeded PostgreSQL database is dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import math
import os
import platform
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench import procstat, seed, targets
from bench.activities import BOT_NAME, Shape
from bench.load import LoadResult, closed_loop, invoke_value, open_loop, run_wrk, wrk_path
from bench.report import Measurement, rounds_table, summary_table


def _connector_get(base: str, path: str) -> Any:
    with urllib.request.urlopen(base + path, timeout=5) as resp:
        return json.loads(resp.read())


def _reply_gist(activity: Any) -> str:
    """A short view of what the target posted: its text, else its attachments' content types."""
    if not isinstance(activity, dict):
        return "nothing"
    gist = activity.get("text") or ", ".join(a.get("contentType", "?") for a in activity.get("attachments") or [])
    return repr(str(gist)[:70])


def _probe(url: str, shape: Shape, connector: str) -> tuple[float, str]:
    """20 activities well below any target's capacity: replies per activity, and the last reply's gist."""
    before = _connector_get(connector, "/stats")["activities"]
    res = asyncio.run(open_loop(url, shape, 50, 0.4))
    after = _connector_get(connector, "/stats")["activities"]
    return (after - before) / max(1, res.requests), _reply_gist(_connector_get(connector, "/last"))


def _saturate(driver: str, url: str, shape: Shape, seconds: float, args: argparse.Namespace) -> LoadResult:
    if driver == "wrk":
        return run_wrk(url, shape, seconds, args.connections, args.threads)
    return asyncio.run(closed_loop(url, shape, seconds, args.connections))


def measure(t: targets.Target, rnd: int, connector: str, driver: str, args: argparse.Namespace,
            scratch: Path) -> Measurement:
    port = targets.free_port()
    work = scratch / f"{t.name}-{rnd}"
    work.mkdir()
    argv, env = t.build(port, work)
    run = targets.start(argv, env, port, t.ready_path, work / "log.txt")
    try:
        pid = run.proc.pid
        rest_rss = procstat.memory_mb(pid, "VmRSS")
        url = run.base_url + t.messages_path
        stamp = int(time.time())  # ids stay unique across runs against a service that keeps state
        text = f"<at>{BOT_NAME}</at> {args.text}"
        shape = lambda tag: Shape(connector + "/", args.conversations, t.personal_share, text,  # noqa: E731
                                  run_id=f"{stamp}-{rnd}{tag}")
        delivered, gist = _probe(url, shape("p"), connector)
        print(f"round {rnd} {t.name}: ready in {run.ready_s:.2f}s, replies per activity {delivered:.2f}, "
              f"last reply {gist}", flush=True)
        _saturate(driver, url, shape("w"), args.warmup, args)
        cpu0 = procstat.cpu_seconds(pid)
        sat = _saturate(driver, url, shape("s"), args.seconds, args)
        cpu1 = procstat.cpu_seconds(pid)
        time.sleep(0.3)  # let in-flight turns from the saturation phase finish before the fixed-rate phase
        fixed = asyncio.run(open_loop(url, shape("f"), args.rate, args.seconds))
        invoke = inv_sat = None
        inv_cpu = math.nan
        if args.invoke_body:
            inv = dataclasses.replace(shape("i"), invoke_value=invoke_value(args.invoke_body))
            invoke = asyncio.run(open_loop(url, inv, args.rate, args.seconds))
            if args.invoke_saturation:
                time.sleep(0.3)
                c0 = procstat.cpu_seconds(pid)
                inv_sat = _saturate(driver, url, dataclasses.replace(inv, run_id=inv.run_id + "s"), args.seconds,
                                    args)
                inv_cpu = (procstat.cpu_seconds(pid) - c0) * 1000 / max(1, inv_sat.requests)
        peak = procstat.memory_mb(pid, "VmHWM")
    finally:
        targets.stop(run.proc)
    return Measurement(
        t.name, rnd, run.ready_s, rest_rss, sat.rps, sat.p50_ms, sat.p99_ms, sat.errors,
        fixed.p50_ms, fixed.p99_ms, fixed.max_ms, fixed.errors, fixed.late,
        (cpu1 - cpu0) * 1000 / max(1, sat.requests), peak, delivered,
        invoke.p99_ms if invoke else math.nan, invoke.errors if invoke else math.nan,
        invoke.late if invoke else math.nan,
        inv_sat.rps if inv_sat else math.nan, inv_cpu,
    )


def _parse() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=10, help="length of the saturation and the fixed-rate phase")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--targets", default="bare,stock,service-sqlite,service-pg")
    p.add_argument("--rate", type=float, default=200, help="fixed offered load, activities/s")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--warmup", type=float, default=1)
    p.add_argument("--conversations", type=int, default=1000)
    p.add_argument("--driver", choices=["auto", "wrk", "python"], default="auto",
                   help="saturation load generator; auto = wrk when installed, else the Python closed loop")
    p.add_argument("--text", default="help", help="the command sent after the bot's @mention (e.g. records)")
    p.add_argument("--seed-connections", type=int, default=0, metavar="N",
                   help="seed each service target's database with N connections first (0: an empty database)")
    p.add_argument("--invoke-body", help="also offer adaptiveCard/action invokes at --rate with this value "
                   "(JSON, or @file) and report their p99")
    p.add_argument("--invoke-saturation", action="store_true",
                   help="with --invoke-body: also saturate with those invokes (inv sat rps, inv CPU ms, ratios)")
    a = p.parse_args()
    unknown = set(a.targets.split(",")) - set(targets.TARGETS)
    if unknown:
        p.error(f"unknown targets {sorted(unknown)}; known: {', '.join(targets.TARGETS)}")
    return a


def _driver(choice: str) -> str:
    if choice == "python":
        return "python"
    if wrk_path():
        return "wrk"
    if choice == "wrk":
        raise SystemExit("--driver wrk: wrk is not installed (apt-get install -y wrk)")
    print("note: wrk is not installed (apt-get install -y wrk); saturation uses the Python closed loop")
    return "python"


class _Connector:
    """The fake Bot Connector process; restarted (and the round's figures dropped) if something ends it."""

    def __init__(self, scratch: Path) -> None:
        self.scratch, self.starts = scratch, 0
        self.run: targets.Running | None = None

    def ensure(self) -> str:
        if self.run is not None and self.run.proc.poll() is None:
            return self.run.base_url
        if self.run is not None:
            print(f"fake connector exited with {self.run.proc.returncode}: {targets.tail(self.run.log, 300)!r}; "
                  "restarting it")
        self.starts += 1
        port = targets.free_port()
        argv = [sys.executable, "-m", "bench.fake_connector", "--port", str(port)]
        self.run = targets.start(argv, {}, port, "/healthz", self.scratch / f"connector-{self.starts}.txt")
        return self.run.base_url

    def alive(self) -> bool:
        return self.run is not None and self.run.proc.poll() is None

    def stop(self) -> None:
        if self.run is not None:
            targets.stop(self.run.proc)


def _run_rounds(args: argparse.Namespace, driver: str, conn: _Connector, scratch: Path,
                seeded: dict[str, targets.Target]) -> list[Measurement]:
    names = args.targets.split(",")
    results: list[Measurement] = []
    skipped: dict[str, str] = {}
    for rnd in range(1, args.rounds + 1):
        # Alternate the order so slow drift of the machine does not favour one target.
        for name in names if rnd % 2 else reversed(names):
            t = seeded.get(name) or targets.TARGETS[name]
            reason = skipped.get(name) or t.skip()
            if reason:
                skipped[name] = reason
                continue
            try:
                m = measure(t, rnd, conn.ensure(), driver, args, scratch)
            except (RuntimeError, OSError) as exc:
                if conn.alive():
                    skipped[name] = f"failed: {exc}"
                m = None
            if not conn.alive():
                print(f"round {rnd} {name}: dropped, the fake connector ended during the measurement")
            elif m is not None:
                results.append(m)
                print(f"round {rnd} {name}: {m.sat_rps:.0f}/s, p99 {m.sat_p99_ms:.1f} ms, "
                      f"{args.rate:.0f}/s p99 {m.fixed_p99_ms:.1f} ms, {m.cpu_ms_per_turn:.2f} ms CPU/turn", flush=True)
    for name, reason in skipped.items():
        print(f"skipped {name}: {reason}")
    return results


def main() -> None:
    args = _parse()
    driver = _driver(args.driver)
    print(f"load average before: {os.getloadavg()[0]:.2f}; machine: {os.cpu_count()} CPUs, {platform.platform()}, "
          f"Python {platform.python_version()}; "
          f"saturation driver {driver} ({args.connections} connections, {args.seconds:g}s); "
          f"fixed load {args.rate:g}/s open loop ({args.seconds:g}s); {args.rounds} rounds; command {args.text!r}"
          + (f"; {args.seed_connections:,} connections seeded" if args.seed_connections else ""), flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        scratch = Path(tmp)
        conn = _Connector(scratch)
        seeded: dict[str, targets.Target] = {}
        created: list[str] = []
        try:
            if args.seed_connections:
                seeded, created = asyncio.run(targets.seed_service_databases(
                    args.targets.split(","), args.seed_connections, args.conversations, scratch))
            results = _run_rounds(args, driver, conn, scratch, seeded)
        finally:
            conn.stop()
            for url in created:
                asyncio.run(seed.drop_pg_database(targets.PG_URL, url))
    if not results:
        raise SystemExit("no target ran")
    print(f"load average after: {os.getloadavg()[0]:.2f} (other work on the machine skews the figures)")
    print("\nPer round (latencies in ms; sat = saturation, fix = fixed offered load):")
    print(rounds_table(results))
    print("\nSummary (medians over rounds; x bare / x stock = saturation throughput ratio):")
    print(summary_table(results))


if __name__ == "__main__":
    main()
