"""A bad setting stops `python app.py` with one line naming the variable: no traceback, exit code 1."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import Config, ConfigError, SourceKind

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("name", "value"), [
    ("PORT", "eighty"), ("PORT", "70000"), ("MicrosoftAppType", "Multi"), ("GRAPH_AUTH", "password"),
    ("DATAVERSE_AUTH", "secret"),
])
def test_a_bad_setting_stops_the_app_with_one_line(name: str, value: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("PORT", "MicrosoftAppType", "GRAPH_AUTH",
                                                             "DATAVERSE_AUTH")}
    env.update({name: value, "DATABASE_URL": f"sqlite:///{tmp_path}/never.db"})
    done = subprocess.run([sys.executable, "app.py"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in done.stderr, done.stderr
    assert lines[0].startswith("connected-chats cannot start: ") and name in lines[0] and repr(value) in lines[0]
    assert not (tmp_path / "never.db").exists()  # refused before anything was opened


def test_good_values_load_and_the_source_kind_is_a_property() -> None:
    cfg = Config.from_env({"PORT": "8080", "MicrosoftAppType": "SingleTenant", "GRAPH_AUTH": "NONE",
                           "DATAVERSE_AUTH": "none", "RECORD_SOURCE": "https://contoso.crm.dynamics.com"})
    assert (cfg.port, cfg.app_type, cfg.graph_auth, cfg.dataverse_auth) == (8080, "SingleTenant", "none", "none")
    assert cfg.source_kind is SourceKind.DATAVERSE
    assert Config.from_env({}).source_kind is SourceKind.LOCAL
    with pytest.raises(ConfigError, match="PORT"):
        Config.from_env({"PORT": "0"})
    assert Config.from_env({}).dataverse_profiles_ttl == 60.0
    assert Config.from_env({"DATAVERSE_PROFILES_TTL": "5"}).dataverse_profiles_ttl == 5.0
    with pytest.raises(ConfigError, match="DATAVERSE_PROFILES_TTL 'soon'"):
        Config.from_env({"DATAVERSE_PROFILES_TTL": "soon"})
