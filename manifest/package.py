"""Build the Teams app package: render, check, then zip manifest.json and the two icons at the zip root."""
from __future__ import annotations

import json
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bots.catalog import COMMANDS, Command
from manifest.checks import check_manifest
from manifest.config import ManifestConfig
from manifest.errors import ManifestError
from manifest.render import TEMPLATE, render_manifest

ICONS_DIR = Path(__file__).resolve().parent
DEFAULT_OUT = Path("build") / "appPackage.zip"
# A fixed timestamp makes the same inputs give the same bytes, so a rebuilt package can be compared to a deployed one.
ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def build_manifest(config: ManifestConfig, *, commands: Sequence[Command] = COMMANDS, template: Path = TEMPLATE,
                   icons_dir: Path = ICONS_DIR) -> dict[str, Any]:
    """The checked manifest; raises ManifestError listing every problem by JSON path."""
    manifest = render_manifest(config, commands, template)
    problems = check_manifest(manifest, config, icons_dir)
    if problems:
        raise ManifestError(problems)
    return manifest


def build_package(config: ManifestConfig, out: Path = DEFAULT_OUT, *, commands: Sequence[Command] = COMMANDS,
                  template: Path = TEMPLATE, icons_dir: Path = ICONS_DIR) -> Path:
    """Write the app package to `out` (parent folders created); nothing is written when a check fails."""
    manifest = build_manifest(config, commands=commands, template=template, icons_dir=icons_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    files = {"manifest.json": (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()}
    for name in (manifest["icons"]["color"], manifest["icons"]["outline"]):
        files[name] = (icons_dir / name).read_bytes()
    tmp = out.with_name(out.name + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    tmp.replace(out)  # a half-written package never sits at `out`
    return out
