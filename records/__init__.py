"""Record sources (the CRM): the local JSON directory and Dataverse, behind domain.ports.RecordSource.

`open_source(spec, public_url, auth, extra_types)` picks one from RECORD_SOURCE (config.py reads the environment):
  local:<path>                           the JSON directory file (local:  alone = the demo directory)
  https://<org>.crm.dynamics.com         Dataverse Web API v9.2 (also written dataverse:<url>)
For Dataverse:
  auth         DATAVERSE_AUTH: azure (default: the configured azure-identity credential, scope <org>/.default) or none
               (no token; only then may the URL be plain http://127.0.0.1:<port>, for emulators/tests)
  extra_types  DATAVERSE_RECORD_TYPES: table logical names to offer besides the out-of-box ones
  profiles_ttl DATAVERSE_PROFILES_TTL: seconds a user's agent experience profiles are kept before re-reading
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from domain.ports import RecordSource
from domain.settings import OUT_OF_BOX_TYPES

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class SourceConfigError(ValueError):
    """RECORD_SOURCE or DATAVERSE_* cannot be used; the message says what to write instead."""


def open_source(spec: str, public_url: str, auth: str = "azure", extra_types: Sequence[str] = (),
                credential: Any = None, profiles_ttl: float | None = None) -> RecordSource:
    """`credential`: the azure-identity credential for auth "azure" (app.py builds it from the configuration);
    without one, only AZURE_* environment credentials are tried, never a managed identity."""
    spec = spec.strip()
    if spec == "local" or spec.startswith("local:"):
        from records.local import DEMO_PATH, LocalRecordSource
        path = spec[len("local:"):].strip() if spec.startswith("local:") else ""
        return LocalRecordSource(Path(path) if path else DEMO_PATH, public_url)
    url = spec[len("dataverse:"):].strip() if spec.startswith("dataverse:") else spec
    if not url.startswith(("https://", "http://")):
        raise SourceConfigError(f"RECORD_SOURCE {spec!r}: expected local:<path to directory JSON>, "
                                "https://<org>.crm.dynamics.com or dataverse:<url>")
    return open_dataverse(url, auth, extra_types, credential, profiles_ttl)


def open_dataverse(url: str, auth: str = "azure", extra_types: Sequence[str] = (),
                   credential: Any = None, profiles_ttl: float | None = None) -> RecordSource:
    from records.dataverse import DataverseRecordSource
    from records.dataverse_http import AzureToken

    org = check_org_url(url, auth)
    types = list(dict.fromkeys([*OUT_OF_BOX_TYPES, *extra_types]))
    options = {} if profiles_ttl is None else {"profiles_ttl": profiles_ttl}
    return DataverseRecordSource(org, AzureToken(org, credential) if auth == "azure" else None, types, **options)


def check_org_url(url: str, auth: str = "azure") -> str:
    """The organization URL without a trailing slash; plain http only for a loopback emulator without auth."""
    if auth not in ("azure", "none"):
        raise SourceConfigError(f"DATAVERSE_AUTH {auth!r}: expected azure (default) or none")
    parts = urlparse(url)
    if not parts.hostname or parts.path.strip("/") or parts.query or parts.fragment:
        raise SourceConfigError(f"Dataverse URL {url!r}: give the organization URL only, "
                                "e.g. https://contoso.crm.dynamics.com")
    if parts.scheme == "http":
        if auth != "none" or parts.hostname not in LOOPBACK:
            raise SourceConfigError(f"Dataverse URL {url!r}: must use https:// (plain http is allowed only for "
                                    "http://127.0.0.1:<port> with DATAVERSE_AUTH=none)")
    elif parts.scheme != "https":
        raise SourceConfigError(f"Dataverse URL {url!r}: must use https://")
    return f"{parts.scheme}://{parts.netloc}"
