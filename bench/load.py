"""Load generators: wrk at saturation (teams.lua), and Python open-loop (fixed rate) and closed-loop drivers.

The open loop schedules request i at t0 + i/rate and measures from that scheduled time to completion, so a
stalled server is charged for the requests it kept waiting (no coordinated omission).

    python -m bench.load --url http://127.0.0.1:3978/api/messages --service-url http://127.0.0.1:3979/ \
        --mode open --rate 200 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.activities import DEFAULT_TEXT, Shape, body, personal_every

LUA = Path(__file__).with_name("teams.lua")
_HEADERS = {"Content-Type": "application/json"}


@dataclass
class LoadResult:
    mode: str
    requests: int
    errors: int
    seconds: float
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    late: int = 0  # open loop only: sends the generator itself dispatched over 1 ms after their slot

    def line(self) -> str:
        return (
            f"{self.mode}: {self.requests} requests in {self.seconds:.1f}s = {self.rps:.0f}/s, errors {self.errors}, "
            f"p50 {self.p50_ms:.2f} ms, p90 {self.p90_ms:.2f} ms, p99 {self.p99_ms:.2f} ms, max {self.max_ms:.2f} ms"
            + (f", late sends {self.late}" if self.mode == "open" else "")
        )


def _pct(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def _result(mode: str, lat_ms: list[float], errors: int, seconds: float, late: int = 0) -> LoadResult:
    lat_ms.sort()
    n = len(lat_ms)
    return LoadResult(mode, n, errors, seconds, n / seconds if seconds else 0.0, _pct(lat_ms, 0.5),
                      _pct(lat_ms, 0.9), _pct(lat_ms, 0.99), lat_ms[-1] if lat_ms else float("nan"), late)


def wrk_path() -> str | None:
    return shutil.which("wrk")


def run_wrk(url: str, shape: Shape, seconds: float, connections: int = 16, threads: int = 2) -> LoadResult:
    """Saturation with wrk; percentiles come from teams.lua's done() as one JSON line."""
    exe = wrk_path()
    if exe is None:
        raise RuntimeError("wrk is not installed (apt-get install -y wrk)")
    invoke = "" if shape.invoke_value is None else json.dumps(shape.invoke_value, separators=(",", ":"))
    cmd = [exe, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
           "-s", str(LUA), url, "--", shape.service_url, str(shape.conversations), str(personal_every(shape)),
           shape.run_id, shape.text, invoke]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, check=False)
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no result (exit {out.returncode}): {out.stdout[-500:]} {out.stderr[-500:]}")
    data = json.loads(line.removeprefix("BENCH_JSON "))
    secs = data["duration_us"] / 1e6
    lat = {k: v / 1000 for k, v in data["latency_us"].items()}
    return LoadResult("wrk", data["requests"], sum(data["errors"].values()), secs, data["requests"] / secs,
                      lat["p50"], lat["p90"], lat["p99"], lat["max"])


async def _post(session: aiohttp.ClientSession, url: str, data: bytes) -> bool:
    try:
        async with session.post(url, data=data, headers=_HEADERS) as resp:
            await resp.read()
            return resp.status < 300
    except (aiohttp.ClientError, TimeoutError):
        return False


def _session(timeout: float) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=aiohttp.ClientTimeout(total=timeout))


async def open_loop(url: str, shape: Shape, rate: float, seconds: float, give_up_s: float = 10.0) -> LoadResult:
    """Fixed offered load; a timed-out request counts as an error with latency = its time until given up."""
    loop = asyncio.get_running_loop()
    lat_ms: list[float] = []
    errors = late = 0

    async def one(data: bytes, scheduled: float) -> None:
        nonlocal errors
        ok = await _post(session, url, data)
        lat_ms.append((loop.time() - scheduled) * 1000)
        errors += not ok

    async with _session(give_up_s) as session:
        tasks = []
        t0 = loop.time() + 0.05
        for i in range(int(rate * seconds)):
            data = body(shape, i)
            scheduled = t0 + i / rate
            delay = scheduled - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            elif delay < -0.001:
                late += 1
            tasks.append(asyncio.create_task(one(data, scheduled)))
        await asyncio.gather(*tasks)
        elapsed = loop.time() - t0
    return _result("open", lat_ms, errors, elapsed, late)


async def closed_loop(url: str, shape: Shape, seconds: float, connections: int = 16,
                      give_up_s: float = 10.0) -> LoadResult:
    """Saturation without wrk: `connections` workers each send the next request as soon as one completes."""
    loop = asyncio.get_running_loop()
    lat_ms: list[float] = []
    errors = seq = 0
    deadline = loop.time() + seconds

    async def worker() -> None:
        nonlocal errors, seq
        while loop.time() < deadline:
            seq += 1
            data = body(shape, seq)
            start = loop.time()
            ok = await _post(session, url, data)
            lat_ms.append((loop.time() - start) * 1000)
            errors += not ok

    async with _session(give_up_s) as session:
        start = loop.time()
        await asyncio.gather(*(worker() for _ in range(connections)))
        elapsed = loop.time() - start
    return _result("closed", lat_ms, errors, elapsed)


def invoke_value(arg: str | None) -> Any:
    if not arg:
        return None
    return json.loads(Path(arg[1:]).read_text() if arg.startswith("@") else arg)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", required=True, help="the target's /api/messages URL")
    p.add_argument("--service-url", required=True, help="serviceUrl put in activities (the fake connector)")
    p.add_argument("--mode", choices=["wrk", "open", "closed"], default="open")
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument("--rate", type=float, default=200, help="open loop: activities per second")
    p.add_argument("--connections", type=int, default=16)
    p.add_argument("--threads", type=int, default=2, help="wrk threads")
    p.add_argument("--conversations", type=int, default=1000)
    p.add_argument("--personal-share", type=float, default=0.25)
    p.add_argument("--text", default=DEFAULT_TEXT)
    p.add_argument("--invoke-body", help="send adaptiveCard/action invokes with this value (JSON, or @file)")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    a = p.parse_args()
    shape = Shape(a.service_url, a.conversations, a.personal_share, a.text, invoke_value(a.invoke_body), "cli")
    if a.mode == "wrk":
        res = run_wrk(a.url, shape, a.seconds, a.connections, a.threads)
    elif a.mode == "open":
        res = asyncio.run(open_loop(a.url, shape, a.rate, a.seconds))
    else:
        res = asyncio.run(closed_loop(a.url, shape, a.seconds, a.connections))
    print(json.dumps(asdict(res)) if a.json else res.line())


if __name__ == "__main__":
    main()
