"""Drives a default `python app.py` through a few commands; tests/test_egress.py runs it both beside the test and
inside a network namespace that has only loopback (`unshare -n`), where nothing else can be reached at all."""
from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from pathlib import Path

import aiohttp

from tests import service_process
from tests.fake_connector import FakeConnector
from tests.teams import LYNNE, Bot

CASE = "CAS-01001-K7R2M8"
TEAM_CASE = "CAS-01002-P4Q9T1"  # people to suggest: the owning team's administrator and members
SETTLE = 3.0  # background start-up work (a first Graph token, key warm-up) has had time to run


async def exercise(bot: Bot, connector: FakeConnector) -> list[str]:
    """help, connect, suggest, join and new: what a user tries first, Graph-backed commands included; then the case
    is reassigned and resolved, so the lifecycle policy (licence check of the new owner, notices) runs too. Returns
    the replies (as JSON, cards included) in order."""
    for text in ("help", f"connect case {CASE}", f"join case {CASE}", f"new case {CASE} with meganb@contoso.example",
                 f"set case {CASE} owner meganb@contoso.example", f"set case {CASE} status Resolved"):
        status, _ = await bot.say(text)
        assert status == 200, text
    status, _ = await bot.say(f"suggest case {TEAM_CASE}", conv="a:lynne", conv_type="personal", user=LYNNE)
    assert status == 200
    await asyncio.sleep(SETTLE)
    return [json.dumps(a) for a in connector.activities]


async def run(start_only: bool = False) -> int:
    """In the namespace: start the service (egress watched too), exercise it unless `start_only`, print its log;
    1 on any egress."""
    workdir = Path(tempfile.mkdtemp(prefix="egress-"))
    report = workdir / "egress.txt"
    connector = await FakeConnector().start()
    proc, url = await asyncio.to_thread(service_process.start, workdir, dict(os.environ), None, "service", 45,
                                        report)
    texts: list[str] = []
    try:
        async with aiohttp.ClientSession() as http:
            if not start_only:
                texts = await exercise(Bot(url, connector.url, http), connector)
    finally:
        proc.stop()
        await connector.stop()
    print(proc.tail(20000))
    print("\n".join(texts))
    attempts = report.read_text() if report.exists() else ""
    print(f"egress attempts: {attempts!r}")
    return 1 if attempts else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(run(start_only="--start-only" in sys.argv)))
