"""The layer rules in pyproject.toml ([tool.importlinter]): domain imports no adapter or door, the doors (bots, tabs,
webhooks) don't import each other, adapters (store, records, graph, auth, teams, notify) and cards import no door."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    done = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout
