"""Pluggable benchmark targets: name -> how to start it, its env, and how to tell it is ready.

Add a target by adding a `Target` to TARGETS; `run` starts each on a free 127.0.0.1 port.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO

ROOT = Path(__file__).resolve().parent.parent
PG_URL = os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")

# (port, scratch dir) -> (argv, extra env)
Builder = Callable[[int, Path], tuple[list[str], dict[str, str]]]


@dataclass(frozen=True)
class Target:
    name: str
    build: Builder
    ready_path: str = "/healthz"
    messages_path: str = "/api/messages"
    personal_share: float = 0.25  # share of activities sent in personal chats; the rest are groupChat
    skip: Callable[[], str | None] = field(default=lambda: None)  # a reason not to run here, or None


def _module(mod: str) -> Builder:
    def build(port: int, _: Path) -> tuple[list[str], dict[str, str]]:
        return [sys.executable, "-m", mod, "--host", "127.0.0.1", "--port", str(port)], {}

    return build


def _service(database_url: Callable[[Path], str]) -> Builder:
    def build(port: int, scratch: Path) -> tuple[list[str], dict[str, str]]:
        env = {"PORT": str(port), "HOST": "127.0.0.1", "DATABASE_URL": database_url(scratch),
               "MicrosoftAppId": "", "MicrosoftAppPassword": "", "GRAPH_AUTH": "none"}
        return [sys.executable, "app.py"], env

    return build


def _no_app() -> str | None:
    return None if (ROOT / "app.py").exists() else f"{ROOT / 'app.py'} does not exist yet"


def _no_pg() -> str | None:
    if reason := _no_app():
        return reason
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=1):
            return None
    except OSError as exc:
        return f"no PostgreSQL at 127.0.0.1:5432 ({exc})"


TARGETS: dict[str, Target] = {
    "bare": Target("bare", _module("bench.anchor_bare")),
    "stock": Target("stock", _module("bench.anchor_stock")),
    # The service understands `help` in a groupChat from a demo-directory user; personal chats stay out of it.
    "service-sqlite": Target("service-sqlite", _service(lambda d: f"sqlite:///{d / 'bench.db'}"),
                             personal_share=0.0, skip=_no_app),
    "service-pg": Target("service-pg", _service(lambda _: PG_URL), personal_share=0.0, skip=_no_pg),
}


def with_database(t: Target, url: str) -> Target:
    """The same service target on a database prepared beforehand (e.g. seeded by bench.seed)."""
    return replace(t, build=_service(lambda _: url))


async def seed_service_databases(names: list[str], rows: int, conversations: int,
                                 scratch: Path) -> tuple[dict[str, Target], list[str]]:
    """Seed one database per service target (reused by all its rounds): `rows` connections, among them 1-3 to
    demo-directory records for each benchmark groupChat, so `records` lists real items. Returns the seeded targets
    and the PostgreSQL URLs to drop afterwards."""
    from bench import seed

    extra = seed.bench_chat_rows(conversations)
    seeded: dict[str, Target] = {}
    created: list[str] = []
    for name in names:
        t = TARGETS[name]
        if not name.startswith("service") or t.skip():
            continue
        if name == "service-pg":
            url = await seed.create_pg_database(PG_URL)
            created.append(url)
            report = await seed.seed_postgres(url, rows, extra)
        else:
            path = scratch / f"seeded-{name}.db"
            url, report = f"sqlite:///{path}", await seed.seed_sqlite(path, rows, extra)
        print(f"{name}: {report.line()} ({url.rsplit('/', 1)[1]})", flush=True)
        seeded[name] = with_database(t, url)
    return seeded, created


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return 200 <= resp.status < 300
    except OSError:
        return False


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    base_url: str
    ready_s: float
    log: Path


def start(argv: list[str], env: dict[str, str], port: int, ready_path: str, log: Path,
          timeout: float = 30.0) -> Running:
    """Start a process and wait until GET ready_path answers 2xx; ready_s counts from spawn."""
    base = f"http://127.0.0.1:{port}"
    out: IO[bytes] = log.open("wb")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=out, stderr=subprocess.STDOUT)
    out.close()
    while time.monotonic() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"{argv} exited with {proc.returncode}: {tail(log)}")
        if http_ok(base + ready_path, timeout=0.5):
            return Running(proc, base, time.monotonic() - t0, log)
        time.sleep(0.02)
    stop(proc)
    raise RuntimeError(f"{argv} not ready at {base + ready_path} within {timeout}s: {tail(log)}")


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def tail(log: Path, chars: int = 1500) -> str:
    try:
        return log.read_text(errors="replace")[-chars:]
    except OSError:
        return ""
