"""Runs `python app.py` as a subprocess (optionally under a wrapper such as `unshare`) on 127.0.0.1 and waits until
it answers /healthz; every wait is bounded."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

from tests.playground_support import ROOT, Proc, _spawn, free_port, wait_healthy

CLEAN = ("MicrosoftApp", "DATABASE_URL", "AZURE_", "GRAPH_", "DATAVERSE_", "RECORD_SOURCE", "HOST", "PORT",
         "OTEL_", "APPLICATIONINSIGHTS_", "METRICS_", "LOG_FORMAT", "ALLOW_UNAUTHENTICATED_BIND", "USE_MANAGED")


def can_unshare() -> bool:
    """Linux namespaces for a test (`unshare -n`, `unshare --time`): util-linux and root (as in CI)."""
    return shutil.which("unshare") is not None and os.geteuid() == 0


NEEDS_UNSHARE = pytest.mark.skipif(not can_unshare(), reason="needs unshare (util-linux) and root for a namespace")


def service_env(workdir: Path, **env: str) -> dict[str, str]:
    """The environment of a default `python app.py`, on a scratch SQLite file, plus `env`."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(CLEAN)}
    base.update({"HOST": "127.0.0.1", "PORT": str(free_port()), "DATABASE_URL": f"sqlite:///{workdir / 'service.db'}",
                 "PYTHONUNBUFFERED": "1", **env})
    return base


def start(workdir: Path, env: dict[str, str], wrapper: list[str] | None = None, name: str = "service",
          timeout: float = 45, egress_report: Path | None = None) -> tuple[Proc, str]:
    """`egress_report`: run under tests/egress_guard.py, which writes there every attempt to leave loopback."""
    guard = [str(ROOT / "tests" / "egress_guard.py"), str(egress_report)] if egress_report else []
    proc = _spawn(name, [*(wrapper or []), sys.executable, *guard, "app.py"], ROOT, env, workdir / f"{name}.log")
    url = f"http://127.0.0.1:{env['PORT']}"
    wait_healthy(proc, url, timeout)
    return proc, url
