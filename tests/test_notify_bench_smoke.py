"""A tiny run of bench/notify_bench.py: it starts the service, replays webhooks and prints its figures. Not a timed
test: it only checks the benchmark works and counts no duplicates or losses."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import PG_ADMIN_URL

ROOT = Path(__file__).resolve().parent.parent


def test_notify_bench_runs_and_prints_its_figures():
    """The benchmark prints latency, throughput, CPU, duplicates 0 and losses 0 for a small steady run."""
    out = subprocess.run([sys.executable, "-m", "bench.notify_bench", "--records", "12", "--chats", "2",
                          "--rate", "0", "--no-kill", "--wait", "30"], cwd=ROOT, capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines() if line.strip()}
    for figure in ("accept_p50_ms", "accept_p99_ms", "delivery_p99_s", "msgs_per_s", "cpu_pct_of_core"):
        assert figure in rows, out.stdout
    assert rows["messages"] == ["24"]
    assert rows["duplicates"] == ["0"] and rows["losses"] == ["0"], out.stdout


def test_notify_latency_mode_prints_card_percentiles():
    """--latency: one short run per rate over records with 1-3 chats, card latency figures, nothing lost."""
    out = subprocess.run([sys.executable, "-m", "bench.notify_bench", "--latency", "--rates", "4", "--seconds", "1",
                          "--chats", "1-3", "--tenants", "2", "--wait", "30"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines() if line.strip()}
    for figure in ("card_p50_ms", "card_p99_ms", "card_max_ms"):
        assert figure in rows, out.stdout
    assert rows["chats_each"] == ["1-3"] and rows["messages"] == ["7"]  # 4 records: 1 + 2 + 3 + 1 chats
    assert rows["duplicates"] == ["0"] and rows["losses"] == ["0"], out.stdout


def test_notify_latency_on_postgresql_with_an_intake_replica():
    """The PostgreSQL runs: seeding through the stores in one transaction, and delivery by another replica."""
    out = subprocess.run([sys.executable, "-m", "bench.notify_bench", "--latency", "--rates", "4", "--seconds", "1",
                          "--chats", "1-2", "--tenants", "2", "--wait", "30", "--intake-replica",
                          "--database", PG_ADMIN_URL], cwd=ROOT, capture_output=True, text=True, timeout=180)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = {line.split()[0]: line.split()[1:] for line in out.stdout.splitlines() if line.strip()}
    assert "card_p99_ms" in rows, out.stdout
    assert rows["duplicates"] == ["0"] and rows["losses"] == ["0"], out.stdout
