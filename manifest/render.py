"""Turn the template and the bot's command catalog into a manifest dict (no checks here; see checks.py)."""
from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from string import Template
from typing import Any
from urllib.parse import urlsplit

from bots.catalog import Command
from manifest.config import ManifestConfig
from manifest.errors import ManifestError, Problem

TEMPLATE = Path(__file__).resolve().parent / "manifest.template.json"


def render_manifest(config: ManifestConfig, commands: Sequence[Command], template: Path = TEMPLATE) -> dict[str, Any]:
    """The manifest with ${...} placeholders filled from config and one command list per bot scope."""
    try:
        raw = json.loads(template.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ManifestError([Problem("$", f"cannot read the manifest template {template}: {exc}")]) from exc
    problems: list[Problem] = []
    manifest = _fill(raw, config.placeholders(), "$", problems)
    if problems:
        raise ManifestError(problems)
    for bot in manifest.get("bots") or []:
        bot["commandLists"] = command_lists(commands, bot.get("scopes") or [])
    for extension in manifest.get("composeExtensions") or []:
        if "messageHandlers" in extension:
            extension["messageHandlers"] = link_handlers(config)
    return manifest


def link_handlers(config: ManifestConfig) -> list[dict[str, Any]]:
    """Link unfurling: record links of this service (PUBLIC_URL) and of the Dataverse organisation."""
    domains = [d for d in dict.fromkeys((urlsplit(config.base_url).hostname or "", config.dataverse_host)) if d]
    return [{"type": "link", "value": {"domains": domains}}] if domains else []


def command_lists(commands: Iterable[Command], scopes: Iterable[str]) -> list[dict[str, Any]]:
    """One list per scope, in catalog order; never truncated (checks.py rejects lists Teams would refuse)."""
    commands = list(commands)
    lists = []
    for scope in scopes:
        entries = [{"title": c.name, "description": c.description} for c in commands if scope in c.scopes]
        if entries:
            lists.append({"scopes": [scope], "commands": entries})
    return lists


def _fill(node: Any, values: dict[str, str], path: str, problems: list[Problem]) -> Any:
    # Only string values are templated, never keys: "$schema" is a key and must stay as it is.
    if isinstance(node, dict):
        return {k: _fill(v, values, f"{path}.{k}", problems) for k, v in node.items()}
    if isinstance(node, list):
        return [_fill(v, values, f"{path}[{i}]", problems) for i, v in enumerate(node)]
    if isinstance(node, str) and "$" in node:
        try:
            return Template(node).substitute(values)
        except (KeyError, ValueError) as exc:
            problems.append(Problem(path, f"template placeholder error in {node!r} ({exc}); "
                                          f"known placeholders: {', '.join(sorted(values))}"))
    return node


def rsc_permissions(template: Path = TEMPLATE) -> list[dict[str, str]]:
    """The chat resource-specific permissions the package declares (consented when the bot installs itself)."""
    manifest = json.loads(template.read_text(encoding="utf-8"))
    return list(manifest.get("authorization", {}).get("permissions", {}).get("resourceSpecific", []))
