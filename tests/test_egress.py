"""On its defaults the service makes no connection beyond loopback: no Graph or Dataverse credential is created,
no managed identity is probed (169.254.169.254), and Graph-backed commands say what to configure instead."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import aiohttp

from tests import service_process
from tests.egress_probe import exercise
from tests.fake_connector import FakeConnector
from tests.teams import Bot


async def test_defaults_make_no_connection_beyond_loopback(tmp_path: Path, connector: FakeConnector,
                                                           http: aiohttp.ClientSession):
    """`python app.py` on defaults under a socket-level audit hook: every connect, sendto or name lookup beyond
    loopback is recorded (and refused); after start-up and a few commands there must be none."""
    report = tmp_path / "egress.txt"
    env = service_process.service_env(tmp_path)
    proc, url = await asyncio.to_thread(service_process.start, tmp_path, env, None, "service", 45, report)
    try:
        texts = await exercise(Bot(url, connector.url, http), connector)
    finally:
        proc.stop()
    attempts = report.read_text() if report.exists() else ""
    assert attempts == "", f"the service tried to leave loopback:\n{attempts}\n{proc.tail()}"
    suggest = next(t for t in texts if "Suggested contacts" in t)
    new_chat = next(t for t in texts if "create the chat" in t)
    assert "Teams licences could not be checked (Microsoft Graph is not configured" in suggest
    assert "Microsoft Graph is not configured" in new_chat
    assert "AZURE_CLIENT_ID" in new_chat
    assert any("reassigned" in t for t in texts), "the lifecycle notice was not delivered"

@service_process.NEEDS_UNSHARE
async def test_defaults_start_in_a_network_namespace_with_only_loopback(tmp_path: Path):
    """The same service and commands where only loopback exists (`unshare -n`): nothing attempts to leave, and the
    log shows no failed cloud probe."""
    env = service_process.service_env(tmp_path)
    proc = await asyncio.create_subprocess_exec(
        "unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh",
        sys.executable, "-m", "tests.egress_probe", cwd=service_process.ROOT, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 90)
    text = out.decode(errors="replace")
    assert proc.returncode == 0, text
    assert "ManagedIdentityCredential" not in text and "169.254.169.254" not in text, text
