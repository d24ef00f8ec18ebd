"""What varies between installations of the app package: ids, the public URL, the version."""
from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from importlib import metadata
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from config import MANIFEST_ENV, manifest_values

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTION = "connected-chats"
ACCENT_COLOR = "#0F6E8C"  # the icon's background; Teams also paints it behind the icon while it loads

ENV_VARS = MANIFEST_ENV  # field name -> environment variable (config.py reads them)


@dataclass(frozen=True)
class ManifestConfig:
    """Inputs of one build. Values are kept as given; the build's checks say what is wrong with them."""
    teams_app_id: str = ""
    bot_id: str = ""
    public_url: str = ""
    sso_client_id: str = ""
    version: str = ""
    developer_name: str = "Connected Chats"
    website_url: str = ""  # empty: derived from public_url
    privacy_url: str = ""
    terms_url: str = ""
    allow_http: bool = False  # only for a local playground: Teams itself loads tabs over https only
    record_source: str = ""  # the service's RECORD_SOURCE: a Dataverse URL adds its host to link unfurling

    @property
    def base_url(self) -> str:
        return self.public_url.strip().rstrip("/")

    @property
    def public_host(self) -> str:
        """host[:port] of PUBLIC_URL, the form validDomains and the SSO resource use (no scheme, no path)."""
        parts = urlsplit(self.base_url)
        return parts.netloc.rpartition("@")[2]

    @property
    def dataverse_host(self) -> str:
        """Host of the Dataverse organisation when RECORD_SOURCE is one (https://<org>.crm.dynamics.com)."""
        source = self.record_source.strip().removeprefix("dataverse:").strip()
        parts = urlsplit(source) if source.startswith(("https://", "http://")) else None
        return parts.hostname or "" if parts else ""

    def placeholders(self) -> dict[str, str]:
        """Values for the template's ${...} placeholders."""
        base = self.base_url
        return {
            "TEAMS_APP_ID": self.teams_app_id.strip(),
            "MicrosoftAppId": self.bot_id.strip(),
            "PUBLIC_URL": base,
            "PUBLIC_HOST": self.public_host,
            # One Entra app can serve the bot and the tab's SSO: default to the bot's id (see infra/README.md).
            "SSO_CLIENT_ID": self.sso_client_id.strip() or self.bot_id.strip(),
            "VERSION": self.version.strip() or default_version(),
            "DEVELOPER_NAME": self.developer_name,
            "WEBSITE_URL": self.website_url or f"{base}/",
            "PRIVACY_URL": self.privacy_url or f"{base}/privacy",
            "TERMS_URL": self.terms_url or f"{base}/terms",
            "ACCENT_COLOR": ACCENT_COLOR,
        }


def config_from_env(env: Mapping[str, str] | None = None, **overrides: str | bool | None) -> ManifestConfig:
    """Read the configuration from environment variables; keyword overrides (CLI flags) win when not None."""
    values: dict[str, Any] = dict(manifest_values(env))
    known = {f.name for f in fields(ManifestConfig)}
    for name, value in overrides.items():
        if name not in known:
            raise TypeError(f"unknown manifest setting {name!r}")
        if value is not None:
            values[name] = value
    return replace(ManifestConfig(), **values)


def default_version() -> str:
    """The project's version: pyproject.toml when building from a checkout, else the installed distribution's."""
    pyproject = PROJECT_ROOT / "pyproject.toml"
    if pyproject.is_file():
        with pyproject.open("rb") as f:
            version = tomllib.load(f).get("project", {}).get("version")
        if isinstance(version, str):
            return version
    try:
        return metadata.version(DISTRIBUTION)
    except metadata.PackageNotFoundError:
        return ""
