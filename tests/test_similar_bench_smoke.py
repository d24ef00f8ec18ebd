"""Smoke runs of the similar-cases evaluation and benchmark on tiny inputs (they run and print their figures;
never timing or quality assertions: the figures in the README come from full runs)."""
from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


async def run(*args: str) -> str:
    proc = await asyncio.create_subprocess_exec(sys.executable, *args, cwd=ROOT, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode == 0, out.decode()
    return out.decode()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_evaluation_reports_precision_and_recall(backend: str):
    out = await run("-m", "bench.similar_eval", "--backend", backend, "--resolved", "300", "--open", "20",
                    "--thresholds", "0,0.5")
    assert f"300 resolved cases, 20 held-out open cases, {backend}" in out
    for row in ("baseline (most resolutions overall)", "lexical, threshold 0 ", "lexical, threshold 0.5"):
        assert re.search(re.escape(row.strip()) + r"\s+[01]\.\d{3}\s+[01]\.\d{3}", out), out


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_benchmark_prints_its_table(backend: str):
    out = await run("-m", "bench.similar_bench", "--backend", backend, "--cases", "400", "--queries", "5",
                    "--updates", "5")
    assert re.search(rf"\| {backend} \| 400 \|( [\d.]+ \|){{7}}", out), out


def test_generator_is_deterministic_and_has_the_promised_shape():
    from bench.similar_data import generate

    a, b = generate(5000, 500), generate(5000, 500)
    assert [(c.title, c.resolved_by) for c in a.resolved[:50]] == [(c.title, c.resolved_by) for c in b.resolved[:50]]
    assert a.topics >= 30 and len(a.resolved) == 5000 and len(a.open_cases) == 500
    assert a.left and {c.resolved_by for c in a.resolved} & a.left  # people who left resolved cases
    assert any(c.resolved_at is None for c in a.resolved)  # and some resolutions have no date

