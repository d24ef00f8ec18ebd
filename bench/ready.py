"""Readiness and memory at rest: start the service several times, time spawn -> first GET /healthz 200.

    python -m bench.ready [--samples 5] [--targets service-sqlite,service-pg]

Each target gets one database, migrated before the first sample (a restart, not a first install): a SQLite file in
a temporary directory, or a fresh PostgreSQL database next to BENCH_PG_URL, dropped at the end. Per sample: the
ready time (polled every 20 ms), the Graph gateway's own start-up time from its log line (msgraph-sdk's warm-up,
paid before the port opens) and VmRSS once ready. RSS after load is bench.run's `RSS peak MB` column.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

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
    """(ready s, graph warm-up s, VmRSS MB at rest) of one start."""
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


def _line(name: str, values: list[float], unit: str) -> str:
    cells = ", ".join(f"{v:.2f}" for v in values)
    return (f"  {name:<16} median {statistics.median(values):.2f} {unit}, min {min(values):.2f}, "
            f"max {max(values):.2f}  [{cells}]")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--samples", type=int, default=5)
    p.add_argument("--targets", default="service-sqlite,service-pg")
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
            print(_line("graph warm-up", [r[1] for r in runs], "s"))
            print(_line("RSS at rest", [r[2] for r in runs], "MB"))
    print(f"load average after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
