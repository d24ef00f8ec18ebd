"""Local mode stays local: with MicrosoftAppId empty, `python app.py` refuses a non-loopback HOST unless
ALLOW_UNAUTHENTICATED_BIND=1, and then warns loudly naming the address. Each start runs in its own network
namespace (`unshare -n`, loopback only), so even a wrong start exposes nothing."""
from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import pytest

from tests import service_process

pytestmark = service_process.NEEDS_UNSHARE
NAMESPACE = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh"]


async def _run(env: dict[str, str], *argv: str, seconds: float = 30) -> tuple[int | None, str]:
    proc = await asyncio.create_subprocess_exec(*NAMESPACE, sys.executable, *argv, cwd=service_process.ROOT,
                                                env=env, stdout=asyncio.subprocess.PIPE,
                                                stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), seconds)
    except TimeoutError:
        proc.kill()
        out, _ = await proc.communicate()
        return None, out.decode(errors="replace")
    return proc.returncode, out.decode(errors="replace")


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.0.2.10", "bot.example"])
async def test_local_mode_refuses_a_public_address(tmp_path: Path, host: str):
    env = service_process.service_env(tmp_path, HOST=host)
    code, out = await _run(env, "app.py", seconds=20)
    assert code not in (None, 0), f"the service started on {host} in local mode:\n{out[-2000:]}"
    last = out.strip().splitlines()[-1]
    assert last.startswith("connected-chats refuses to start") and host in last
    assert "ALLOW_UNAUTHENTICATED_BIND=1" in last and "Traceback" not in out


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
async def test_local_mode_on_loopback_starts_without_opt_in(tmp_path: Path, host: str):
    env = service_process.service_env(tmp_path, HOST=host)
    code, out = await _run(env, "-m", "tests.egress_probe", "--start-only", seconds=60)
    assert code == 0, out[-3000:]
    assert "LOCAL MODE ON" not in out and "local mode, incoming activities are NOT authenticated" in out


async def test_opt_in_starts_with_a_loud_warning_naming_the_address(tmp_path: Path):
    env = service_process.service_env(tmp_path, HOST="0.0.0.0", ALLOW_UNAUTHENTICATED_BIND="1")
    code, out = await _run(env, "-m", "tests.egress_probe", "--start-only", seconds=60)
    assert code == 0, out[-3000:]
    warning = next(line for line in out.splitlines() if "LOCAL MODE ON" in line)
    assert "WARNING" in warning and f"0.0.0.0:{env['PORT']}" in warning and "NOT authenticated" in warning


async def test_an_app_id_may_bind_any_address(tmp_path: Path):
    """With MicrosoftAppId set every activity needs a token, so a public address needs no opt-in."""
    env = service_process.service_env(tmp_path, HOST="0.0.0.0", MicrosoftAppId="11111111-2222-3333-4444-555555555555",
                                      MicrosoftAppPassword="secret", GRAPH_AUTH="none",
                                      TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL="http://127.0.0.1:9/openid")
    code, out = await _run(env, "-m", "tests.egress_probe", "--start-only", seconds=60)
    assert code == 0, out[-3000:]
