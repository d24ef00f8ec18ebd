"""Checks on a rendered manifest: our own first (they name the setting to fix), then the v1.30 JSON schema.

Schema errors on a field our own checks already explained are dropped, so each mistake is reported once.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError
from PIL import Image, UnidentifiedImageError

from manifest.config import ManifestConfig
from manifest.errors import Problem

HERE = Path(__file__).resolve().parent
SCHEMA_PATH = HERE / "MicrosoftTeams.v1.30.schema.json"
MANIFEST_VERSION = "1.30"
GUID = re.compile(r"^[0-9a-fA-F]{8}-([0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}$")
SEMVER = re.compile(r"^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$")  # Teams wants plain MAJOR.MINOR.PATCH
ICON_SIZES = {"color": (192, 192), "outline": (32, 32)}
URL_KEYS = ("websiteUrl", "privacyUrl", "termsOfUseUrl", "contentUrl", "searchUrl")
# Limits from the Teams app manifest reference. Bot command titles and descriptions are documented as 32 and 128
# characters although the v1.30 schema allows 128 and 4000; Teams' app validation follows the documentation.
TEXT_LIMITS = (("$.name.short", 30), ("$.name.full", 100), ("$.description.short", 80),
               ("$.description.full", 4000), ("$.developer.name", 32))
COMMAND_TITLE_MAX, COMMAND_DESCRIPTION_MAX = 32, 128
EXAMPLE_GUID = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"


@cache
def load_schema() -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return schema


def max_commands_per_list() -> int:
    """The schema's cap on the commands of one bot command list (12 in v1.30)."""
    items = load_schema()["properties"]["bots"]["items"]["properties"]["commandLists"]["items"]
    return int(items["properties"]["commands"]["maxItems"])


def check_manifest(manifest: dict[str, Any], config: ManifestConfig, icons_dir: Path) -> list[Problem]:
    """Every problem of the manifest and its icons; empty when Teams should accept the package."""
    url_problems, url_covered = _check_urls(manifest, config)
    own = [*_check_versions(manifest), *_check_ids(manifest), *url_problems, *_check_texts(manifest),
           *_check_command_lists(manifest), *_check_icons(manifest, icons_dir)]
    covered = {p.path for p in own} | url_covered
    return own + [p for p in schema_problems(manifest) if not _is_covered(p.path, covered)]


def schema_problems(manifest: dict[str, Any]) -> list[Problem]:
    # The schema declares draft-04. Its `const` on manifestVersion is draft-06, hence _check_versions.
    errors = Draft4Validator(load_schema()).iter_errors(manifest)
    return [Problem(e.json_path, _schema_message(e)) for e in sorted(errors, key=lambda e: e.json_path)]


def _schema_message(error: ValidationError) -> str:
    inst = error.instance
    if error.validator == "maxLength" and isinstance(inst, str):
        text = f"is {len(inst)} characters, at most {error.validator_value} allowed"
    elif error.validator == "maxItems" and isinstance(inst, list):
        text = f"has {len(inst)} items, at most {error.validator_value} allowed"
    else:
        text = error.message if len(error.message) <= 200 else error.message[:197] + "..."
    return f"{text} (v{MANIFEST_VERSION} schema)"


def _is_covered(path: str, covered: set[str]) -> bool:
    return any(path == c or path.startswith((c + ".", c + "[")) for c in covered)


def _check_versions(m: dict[str, Any]) -> Iterator[Problem]:
    if m.get("manifestVersion") != MANIFEST_VERSION:
        yield Problem("$.manifestVersion", f"is {m.get('manifestVersion')!r}, must be {MANIFEST_VERSION!r} "
                                           f"(the package is validated against the v{MANIFEST_VERSION} schema)")
    version = str(m.get("version") or "")
    if not SEMVER.match(version):
        yield Problem("$.version", f"{version!r} is not a version like 1.2.3 (pass --version, set APP_VERSION, "
                                   "or fix the version in pyproject.toml)")


def _check_ids(m: dict[str, Any]) -> Iterator[Problem]:
    spots = [("$.id", m.get("id"), "TEAMS_APP_ID", "the Teams app id")]
    for i, bot in enumerate(m.get("bots") or []):
        spots.append((f"$.bots[{i}].botId", bot.get("botId"), "MicrosoftAppId", "the bot's Microsoft App ID"))
    for i, ext in enumerate(m.get("composeExtensions") or []):
        if "botId" in ext:
            spots.append((f"$.composeExtensions[{i}].botId", ext["botId"], "MicrosoftAppId",
                          "the bot's Microsoft App ID"))
    if isinstance(m.get("webApplicationInfo"), dict):
        spots.append(("$.webApplicationInfo.id", m["webApplicationInfo"].get("id"), "SSO_CLIENT_ID",
                      "the client id of the Entra app that signs users in to the tabs"))
    for path, value, var, what in spots:
        if not value:
            yield Problem(path, f"{var} is not set ({what}, a GUID such as {EXAMPLE_GUID})")
        elif not GUID.match(str(value)):
            yield Problem(path, f"{value!r} from {var} is not a GUID ({what} must look like {EXAMPLE_GUID})")


def _check_urls(m: dict[str, Any], config: ManifestConfig) -> tuple[list[Problem], set[str]]:
    """PUBLIC_URL once (at validDomains, which is its host), then URL fields that did not come from it."""
    problems: list[Problem] = []
    base, covered = config.base_url, set()
    bad_base = _public_url_problem(config)
    if bad_base:
        problems.append(Problem("$.validDomains[0]", bad_base))
        covered |= {"$.validDomains", "$.webApplicationInfo.resource"}
    for path, value in _url_fields(m):
        if bad_base and value.startswith(base):
            covered.add(path)  # already explained by the PUBLIC_URL problem
            continue
        parts = urlsplit(value)
        if parts.scheme == "https" or (parts.scheme == "http" and config.allow_http):
            if parts.hostname:
                continue
        problems.append(Problem(path, f"{value!r} is not an absolute https:// URL"))
    return problems, covered


def _public_url_problem(config: ManifestConfig) -> str | None:
    url = config.base_url
    if not url:
        return ("PUBLIC_URL is not set: the public base URL of this service, e.g. https://chats.contoso.com "
                "(its host becomes validDomains, the tab URLs start with it)")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return f"PUBLIC_URL {url!r} is not an absolute URL such as https://chats.contoso.com"
    if parts.query or parts.fragment:
        return f"PUBLIC_URL {url!r} must be a base URL, without ?query or #fragment"
    if parts.scheme == "http" and not config.allow_http:
        return (f"PUBLIC_URL {url!r} uses http, but Teams loads tabs and signs users in over https only; "
                "use an https URL (a tunnel in development), or --allow-http for a package used only with "
                "the local Agents Playground")
    return None


def _url_fields(m: dict[str, Any]) -> Iterator[tuple[str, str]]:
    developer = m.get("developer") or {}
    for key in URL_KEYS:
        if isinstance(developer.get(key), str):
            yield f"$.developer.{key}", developer[key]
    for i, tab in enumerate(m.get("staticTabs") or []):
        for key in URL_KEYS:
            if isinstance(tab.get(key), str):
                yield f"$.staticTabs[{i}].{key}", tab[key]
    for i, tab in enumerate(m.get("configurableTabs") or []):
        if isinstance(tab.get("configurationUrl"), str):
            yield f"$.configurableTabs[{i}].configurationUrl", tab["configurationUrl"]


def _check_texts(m: dict[str, Any]) -> Iterator[Problem]:
    for path, value, limit, hint in _texts(m):
        if isinstance(value, str) and len(value) > limit:
            yield Problem(path, f"is {len(value)} characters, Teams allows at most {limit}{hint}: "
                                f"{value[:40]!r}...")


def _texts(m: dict[str, Any]) -> Iterator[tuple[str, Any, int, str]]:
    for path, limit in TEXT_LIMITS:
        section, key = path[2:].split(".")
        yield path, (m.get(section) or {}).get(key), limit, ""
    for i, bot in enumerate(m.get("bots") or []):
        for j, cmd_list in enumerate(bot.get("commandLists") or []):
            for k, cmd in enumerate(cmd_list.get("commands") or []):
                at, hint = f"$.bots[{i}].commandLists[{j}].commands[{k}]", f" (command {cmd.get('title')!r})"
                yield f"{at}.title", cmd.get("title"), COMMAND_TITLE_MAX, hint
                yield f"{at}.description", cmd.get("description"), COMMAND_DESCRIPTION_MAX, hint
    for i, ext in enumerate(m.get("composeExtensions") or []):
        for k, cmd in enumerate(ext.get("commands") or []):
            at = f"$.composeExtensions[{i}].commands[{k}]"
            yield f"{at}.title", cmd.get("title"), COMMAND_TITLE_MAX, ""
            yield f"{at}.description", cmd.get("description"), COMMAND_DESCRIPTION_MAX, ""


def _check_command_lists(m: dict[str, Any]) -> Iterator[Problem]:
    limit = max_commands_per_list()
    for i, bot in enumerate(m.get("bots") or []):
        for j, cmd_list in enumerate(bot.get("commandLists") or []):
            count = len(cmd_list.get("commands") or [])
            if count > limit:
                scopes = ", ".join(cmd_list.get("scopes") or [])
                yield Problem(f"$.bots[{i}].commandLists[{j}].commands",
                              f"{count} commands for scope {scopes}, but a command list holds at most {limit}; "
                              "shorten the command list (bots/catalog.py): the build never drops commands")


def _check_icons(m: dict[str, Any], icons_dir: Path) -> Iterator[Problem]:
    icons = m.get("icons") or {}
    for key, size in ICON_SIZES.items():
        name = icons.get(key)
        if not isinstance(name, str):
            continue  # the schema reports the missing field
        path = f"$.icons.{key}"
        if not name or Path(name).name != name:
            yield Problem(path, f"{name!r} must be a file name: icons sit at the root of the package")
            continue
        problem = _icon_problem(icons_dir / name, size, white_only=key == "outline")
        if problem:
            yield Problem(path, problem)


def _icon_problem(file: Path, size: tuple[int, int], white_only: bool) -> str | None:
    if not file.is_file():
        return f"icon file {file} not found"
    try:
        with Image.open(file) as img:
            img.load()
            fmt, actual, has_alpha = img.format, img.size, "A" in img.getbands() or "transparency" in img.info
            rgba = img.convert("RGBA")
    except (OSError, UnidentifiedImageError):
        return f"{file} is not a readable image"
    if fmt != "PNG":
        return f"{file.name} is a {fmt} image, Teams wants a PNG"
    if actual != size:
        return f"{file.name} is {actual[0]}x{actual[1]} pixels, must be exactly {size[0]}x{size[1]}"
    if white_only:
        return _outline_problem(file.name, rgba, has_alpha)
    return None


def _outline_problem(name: str, rgba: Image.Image, has_alpha: bool) -> str | None:
    if not has_alpha:
        return f"{name} has no transparency: the outline icon must be white on a transparent background"
    width = rgba.width
    raw = rgba.tobytes()  # not getdata(): deprecated in Pillow 12, and this works on every version we allow
    pixels = [tuple(raw[i:i + 4]) for i in range(0, len(raw), 4)]
    bad = [i for i, (r, g, b, a) in enumerate(pixels) if a and (r, g, b) != (255, 255, 255)]
    if bad:
        first = bad[0]
        return (f"{name} must be white on transparent only: {len(bad)} of {len(pixels)} pixels are neither "
                f"(first at x={first % width}, y={first // width}: rgba{pixels[first]})")
    if not any(a for *_, a in pixels):
        return f"{name} is fully transparent"
    return None
