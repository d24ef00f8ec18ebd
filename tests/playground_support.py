"""Runs this service and Microsoft 365 Agents Playground as subprocesses for the end-to-end test: the npm package
is installed once into tests/.playground/ (its node_modules/ is git-ignored), everything listens on 127.0.0.1 only,
and every wait is bounded."""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "@microsoft/m365agentsplayground"
VERSION = "0.2.28"
CACHE = Path(os.environ.get("PLAYGROUND_CACHE", ROOT / "tests" / ".playground"))
LOOPBACK = ROOT / "scripts" / "loopback.cjs"
CONFIG = ROOT / ".m365agentsplayground.yml"
CHROMIUM = "/usr/bin/chromium"
_LISTENING = re.compile(r"Listening on (\d+)")  # its first stdout line when stdout is not a TTY


def missing_tools() -> str:
    """Why the end-to-end test can't run here ('' when it can)."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        return f"{' and '.join(missing)} not found: install Node.js 20 (CI does) to run the Agents Playground test"
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is missing: `apt-get install -y chromium` (CI does); Playwright's browsers are never used"
    return ""


def ensure_installed() -> Path:
    """The Playground's cli.js, installing the pinned package into the cache on first use."""
    package_dir = CACHE / "node_modules" / PACKAGE
    manifest = package_dir / "package.json"
    if not manifest.exists() or json.loads(manifest.read_text()).get("version") != VERSION:
        CACHE.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["npm", "install", "--prefix", str(CACHE), "--no-save", "--no-package-lock",
                               "--no-audit", "--no-fund", f"{PACKAGE}@{VERSION}"],
                              capture_output=True, text=True, timeout=300, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"npm install {PACKAGE}@{VERSION} failed:\n{done.stderr[-2000:]}")
    return package_dir / "cli.js"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, chars: int = 3000) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- {self.name} log ({self.log}) ---\n{text[-chars:]}"

    def stop(self) -> None:
        """Stop this process and its own children (it leads its process group), politely first."""
        if self.popen.poll() is not None:
            return
        try:
            os.killpg(self.popen.pid, signal.SIGTERM)
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout=5)
        except ProcessLookupError:
            pass


def _spawn(name: str, args: list[str], cwd: Path, env: dict[str, str], log: Path) -> Proc:
    with log.open("wb") as out:
        popen = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                                 stdin=subprocess.DEVNULL, start_new_session=True)
    return Proc(name, popen, log)


def _wait(proc: Proc, ready: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.popen.poll() is not None:
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode} before {what}\n{proc.tail()}")
        if ready():
            return
        time.sleep(0.2)
    raise TimeoutError(f"{proc.name}: no {what} within {timeout:.0f} s\n{proc.tail()}")


def start_service(workdir: Path) -> tuple[Proc, str]:
    """`python app.py` in local mode (no MicrosoftAppId) on a temporary SQLite database."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MicrosoftApp", "DATABASE_URL", "AZURE_"))}
    env.update(MicrosoftAppId="", HOST="127.0.0.1", PORT=str(port), GRAPH_AUTH="none",
               DATABASE_URL=f"sqlite:///{workdir / 'playground.db'}", PYTHONUNBUFFERED="1")
    proc = _spawn("service", [sys.executable, "app.py"], ROOT, env, workdir / "service.log")
    url = f"http://127.0.0.1:{port}"
    wait_healthy(proc, url)
    return proc, url


def wait_healthy(proc: Proc, url: str, timeout: float = 45) -> None:
    """Until the service at `url` answers /healthz (or exits, or `timeout` s pass: an error with its log)."""
    def healthy() -> bool:
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=1) as resp:
                return bool(resp.status == 200)
        except OSError:
            return False
    _wait(proc, healthy, timeout, "answer on /healthz")


def start_playground(workdir: Path, cli: Path, bot_url: str) -> tuple[Proc, int]:
    """The Playground on a free loopback port, its working directory holding the shipped configuration."""
    scratch = workdir / "playground"
    scratch.mkdir(exist_ok=True)
    shutil.copy(CONFIG, scratch / CONFIG.name)
    env = dict(os.environ, TEAMSAPPTESTER_BROWSER="none", BOT_ENDPOINT=f"{bot_url}/api/messages")
    for attempt in range(3):
        port = free_port()
        args = ["node", "-r", str(LOOPBACK), str(cli), "--port", str(port), "--channel-id", "msteams",
                "--service-url", f"http://127.0.0.1:{port}/_connector", "--disable-telemetry"]
        proc = _spawn("playground", args, scratch, env, workdir / f"playground-{attempt}.log")
        _wait(proc, lambda log=proc.log: bool(_LISTENING.search(log.read_text(errors="replace"))), 30,
              "'Listening on' line")
        found = _LISTENING.search(proc.log.read_text(errors="replace"))
        if found and int(found.group(1)) == port:
            return proc, port
        proc.stop()  # the port was taken in between and it fell back to another: its service URL would be wrong
    raise RuntimeError("the Playground never got the port it was given")


def listening_addresses(pid: int) -> list[tuple[str, int]]:
    """(address, port) of every TCP socket process `pid` listens on, read from /proc like `ss -ltnp` does."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != "0A" or fields[9] not in inodes:  # 0A: LISTEN
                continue
            hex_ip, hex_port = fields[1].split(":")
            raw = bytes.fromhex(hex_ip)
            # /proc prints each 32-bit word of the address in host (little-endian) order
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.append((socket.inet_ntop(family, raw), int(hex_port, 16)))
    return found
