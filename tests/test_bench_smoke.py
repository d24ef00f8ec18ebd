"""Smoke runs of the benchmark suite: it runs and prints its figures (never timing assertions)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from bench import anchor_bare, fake_connector
from bench.load import wrk_path

ROOT = Path(__file__).resolve().parent.parent
INVOKE = {"action": {"type": "Action.Execute", "verb": "records", "data": {"recordType": "incident"}}}


async def _run(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), 180)
    text = out.decode()
    assert proc.returncode == 0, text
    return text


def _summary_rows(out: str) -> dict[str, list[str]]:
    summary = out.split("Summary", 1)[1]
    rows = [[c.strip() for c in ln.strip("|").split("|")] for ln in summary.splitlines() if ln.startswith("|")]
    header, body = rows[0], rows[2:]
    return {r[0]: r for r in body} | {"header": header}


def assert_run_output(out: str) -> None:
    for name in ("bare", "stock"):
        assert f"round 1 {name}: ready in" in out and "last reply 'Echo: <at>Connected Chats</at> help'" in out, out
    rows = _summary_rows(out)
    header = rows["header"]
    assert set(rows) == {"header", "bare", "stock"}, out
    assert rows["bare"][header.index("x bare")] == "1.00x", out
    assert rows["stock"][header.index("x stock")] == "1.00x", out
    for name in ("bare", "stock"):
        row = dict(zip(header, rows[name], strict=True))
        assert float(row["sat rps"]) > 0 and float(row["CPU ms/turn"]) > 0 and float(row["RSS peak MB"]) > 0, out
        assert float(row["delivered"]) > 0.99, f"{name} did not post its replies to the fake connector:\n{out}"


async def test_run_python_driver_prints_table() -> None:
    """bench.run with the Python generators starts both anchors and prints throughput, ratios, CPU, RSS."""
    out = await _run("-m", "bench.run", "--seconds", "1", "--rounds", "1", "--targets", "bare,stock",
                     "--driver", "python", "--warmup", "0.5")
    assert_run_output(out)


@pytest.mark.skipif(wrk_path() is None, reason="wrk is not installed (apt-get install -y wrk); wrk path not smoked")
async def test_run_wrk_driver_prints_table() -> None:
    """bench.run's documented command drives both anchors with wrk + teams.lua and prints its table."""
    out = await _run("-m", "bench.run", "--seconds", "1", "--rounds", "1", "--targets", "bare,stock")
    assert "saturation driver wrk" in out, out
    assert_run_output(out)


@pytest.fixture
async def servers() -> AsyncIterator[tuple[str, str]]:
    """The fake connector and the bare anchor in-process on 127.0.0.1 port 0: (connector URL, messages URL)."""
    runners = []
    urls = []
    for app in (fake_connector.make_app(), anchor_bare.make_app()):
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        urls.append(f"http://127.0.0.1:{runner.addresses[0][1]}")
    yield urls[0], urls[1] + "/api/messages"
    for runner in runners:
        await runner.cleanup()


async def _delivered(connector: str) -> int:
    async with aiohttp.ClientSession() as s, s.get(connector + "/stats") as resp:
        return int((await resp.json())["activities"])


async def test_open_loop_prints_percentiles_and_replies_arrive(servers: tuple[str, str]) -> None:
    """The open-loop generator offers 50/s for 1 s, prints p50/p90/p99/max, and each message yields one reply."""
    connector, url = servers
    out = await _run("-m", "bench.load", "--url", url, "--service-url", connector + "/", "--mode", "open",
                     "--rate", "50", "--seconds", "1", "--json")
    res = json.loads(out.strip().splitlines()[-1])
    assert res["requests"] == 50 and res["errors"] == 0, out
    assert all(res[k] > 0 for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms")), out
    assert await _delivered(connector) == 50


async def test_open_loop_sends_invokes(servers: tuple[str, str]) -> None:
    """--invoke-body sends adaptiveCard/action invokes: answered 200 inline, nothing posted to the connector."""
    connector, url = servers
    out = await _run("-m", "bench.load", "--url", url, "--service-url", connector + "/", "--mode", "open",
                     "--rate", "40", "--seconds", "0.5", "--invoke-body", json.dumps(INVOKE))
    figures = r"open: 20 requests .* errors 0, p50 [\d.]+ ms, p90 [\d.]+ ms, p99 [\d.]+ ms, max [\d.]+ ms"
    assert re.search(figures, out), out
    assert await _delivered(connector) == 0


# | query | keys | calls | rows/call | p50 | p99 | max | ...  -> (query, keys, calls, p50, p99, max)
LOOKUP_ROW = re.compile(r"^\| (\S+) +\| (existing|missing) +\| +(\d+) \| +[\d.]+ "
                        r"\| +([\d.]+) \| +([\d.]+) \| +([\d.]+) \|", re.M)
PG_ADMIN_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def assert_store_bench(out: str, plan_word: str) -> None:
    assert "seeded 2,000 connections" in out, out
    rows = LOOKUP_ROW.findall(out)
    lookups = {"for_record", "for_record+history", "for_record_any_tenant", "for_chat", "active", "last_connector"}
    assert {(r[0], r[1]) for r in rows} == {(q, k) for q in lookups for k in ("existing", "missing")}, out
    assert all(int(r[2]) == 50 and float(r[5]) >= float(r[3]) > 0 for r in rows), out
    for q in lookups:
        section = out.split(f"\n== {q}: SELECT", 1)[1].split("\n== ", 1)[0]
        assert plan_word in section and "-- uses an index: " in section, out
    assert re.search(r"^target (met|MISSED)", out, re.M), out


async def test_store_bench_sqlite_prints_figures_and_plans() -> None:
    """store_bench seeds 2,000 connections in SQLite, prints p50/p99/max per lookup and each EXPLAIN QUERY PLAN."""
    out = await _run("-m", "bench.store_bench", "--backend", "sqlite", "--rows", "2000", "--samples", "50",
                     "--warmup", "5")
    assert_store_bench(out, "SEARCH connections USING")


async def test_store_bench_postgresql_prints_figures_plans_and_drops_its_database() -> None:
    """store_bench seeds a fresh PostgreSQL database, prints figures and EXPLAIN ANALYZE plans, then drops it."""
    out = await _run("-m", "bench.store_bench", "--backend", "postgresql", "--rows", "2000", "--samples", "50",
                     "--warmup", "5", "--url", PG_ADMIN_URL)
    assert_store_bench(out, "Execution Time:")
    assert "-- generic plan (plan_cache_mode = force_generic_plan):" in out, out
    name = re.search(r"database (cc_bench_\w+)", out)
    assert name, out
    conn = await asyncpg.connect(PG_ADMIN_URL)
    try:
        assert await conn.fetchval("SELECT count(*) FROM pg_database WHERE datname = $1", name.group(1)) == 0
    finally:
        await conn.close()


async def test_run_seeded_records_replies_with_a_card() -> None:
    """--seed-connections seeds the service's SQLite file and --text records gets a records card per activity."""
    out = await _run("-m", "bench.run", "--seconds", "1", "--rounds", "1", "--targets", "service-sqlite",
                     "--driver", "python", "--warmup", "0.2", "--text", "records", "--seed-connections", "3000")
    assert re.search(r"service-sqlite: seeded 3,000 connections: .*file \d+ MB", out), out
    assert "replies per activity 1.00, last reply 'application/vnd.microsoft.card.adaptive'" in out, out
    assert "command 'records'; 3,000 connections seeded" in out, out


async def test_search_bench_prints_percentiles_for_both_sources() -> None:
    """search_bench runs Find a record against the anchor, the local directory and the slowed Dataverse fake."""
    out = await _run("-m", "bench.search_bench", "--records", "300", "--queries", "8", "--warmup", "2",
                     "--latency-ms", "5")
    rows = [ln for ln in out.splitlines() if ln.startswith("| ") and "target" not in ln]
    assert [r.split("|")[1].strip() for r in rows] == [
        "bare aiohttp anchor", "local directory, 300 cases", "Dataverse fake +5 ms/request, 300 cases"], out
    for row in rows:
        assert all(float(c) > 0 for c in row.strip("|").split("|")[2:]), out
