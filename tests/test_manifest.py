"""The Teams app package build (manifest/): a valid package, and a readable failure for each kind of mistake."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import uuid
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from jsonschema import Draft4Validator
from PIL import Image

from bots.catalog import COMMANDS, Command
from manifest import ManifestConfig, ManifestError, build_manifest, build_package, config_from_env
from manifest.checks import SCHEMA_PATH, max_commands_per_list
from manifest.icons import color_icon, outline_icon
from manifest.render import TEMPLATE

ROOT = Path(__file__).resolve().parent.parent
ICONS = ROOT / "manifest"
SHARED_SCHEMA = Path("/work/shared/schemas/MicrosoftTeams.v1.30.schema.json")


def new_guid() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def config() -> ManifestConfig:
    return ManifestConfig(teams_app_id=new_guid(), bot_id=new_guid(), public_url="https://chats.contoso.com",
                          sso_client_id=new_guid())


@pytest.fixture
def icons(tmp_path: Path) -> Path:
    """A copy of the shipped icons that a test may spoil."""
    folder = tmp_path / "icons"
    folder.mkdir()
    for name in ("color.png", "outline.png"):
        shutil.copy(ICONS / name, folder / name)
    return folder


def problems(**kwargs: object) -> dict[str, str]:
    with pytest.raises(ManifestError) as caught:
        build_manifest(**kwargs)  # type: ignore[arg-type]
    found: dict[str, str] = {}
    for p in caught.value.problems:
        assert p.path not in found, f"{p.path} reported twice: {found[p.path]!r} and {p.message!r}"
        found[p.path] = p.message
    return found


def schema() -> dict:
    return json.loads((SHARED_SCHEMA if SHARED_SCHEMA.exists() else SCHEMA_PATH).read_text())


# --- a valid build ---------------------------------------------------------------------------------------------

def test_valid_package_layout_and_schema(config: ManifestConfig, tmp_path: Path) -> None:
    """A good configuration gives a zip with exactly manifest.json and both icons at its root, valid per v1.30."""
    out = build_package(config, tmp_path / "build" / "appPackage.zip")
    with zipfile.ZipFile(out) as zf:
        assert sorted(zf.namelist()) == ["color.png", "manifest.json", "outline.png"]
        manifest = json.loads(zf.read("manifest.json"))
        assert zf.read("color.png") == (ICONS / "color.png").read_bytes()
        assert zf.read("outline.png") == (ICONS / "outline.png").read_bytes()
    errors = [e.message for e in Draft4Validator(schema()).iter_errors(manifest)]
    assert errors == []
    assert manifest["$schema"] == "https://developer.microsoft.com/json-schemas/teams/v1.30/MicrosoftTeams.schema.json"
    assert manifest["manifestVersion"] == "1.30"
    assert manifest["icons"] == {"color": "color.png", "outline": "outline.png"}


def test_command_lists_follow_the_catalog(config: ManifestConfig) -> None:
    """Each bot scope gets one command list holding exactly the catalog's commands for that scope, in order."""
    manifest = build_manifest(config)
    bot = manifest["bots"][0]
    assert bot["scopes"] == ["personal", "groupChat"]
    assert bot["supportsFiles"] is False
    lists = {tuple(cl["scopes"]): cl["commands"] for cl in bot["commandLists"]}
    assert set(lists) == {("personal",), ("groupChat",)}
    for (scope,), listed in lists.items():
        expected = [{"title": c.name, "description": c.description} for c in COMMANDS if scope in c.scopes]
        assert listed == expected
    assert {c["title"] for cl in lists.values() for c in cl} == {c.name for c in COMMANDS}


def test_ids_domains_tabs_and_permissions(config: ManifestConfig) -> None:
    """Ids, validDomains, SSO resource, tabs, message extension and RSC permissions come out as configured."""
    m = build_manifest(config)
    assert m["id"] == config.teams_app_id
    assert m["bots"][0]["botId"] == config.bot_id
    assert m["validDomains"] == ["chats.contoso.com"]
    assert m["webApplicationInfo"] == {"id": config.sso_client_id,
                                       "resource": f"api://chats.contoso.com/{config.sso_client_id}"}
    tabs = {t["entityId"]: (t["name"], t["contentUrl"], t["scopes"]) for t in m["staticTabs"]}
    assert tabs == {"settings": ("Settings", "https://chats.contoso.com/tabs/admin?inTeams=1", ["personal"]),
                    "records": ("My records", "https://chats.contoso.com/tabs/my?inTeams=1", ["personal"])}
    assert m["configurableTabs"] == [{"configurationUrl": "https://chats.contoso.com/tabs/chat/config?inTeams=1",
                                      "canUpdateConfiguration": False, "scopes": ["groupChat"],
                                      "context": ["privateChatTab"]}]
    (ext,) = m["composeExtensions"]
    assert ext["botId"] == config.bot_id
    cmd, find = ext["commands"]
    assert (cmd["id"], cmd["title"], cmd["type"], cmd["fetchTask"]) == \
        ("connectToRecord", "Connect to record", "action", True)
    assert cmd["context"] == ["compose", "commandBox", "message"]
    assert (find["id"], find["title"], find["type"], find["initialRun"]) == \
        ("findRecord", "Find a record", "query", True)
    assert [p["name"] for p in find["parameters"]] == ["searchText"]
    assert ext["messageHandlers"] == [{"type": "link", "value": {"domains": ["chats.contoso.com"]}}]
    assert m["permissions"] == ["identity", "messageTeamMembers"]
    rsc = m["authorization"]["permissions"]["resourceSpecific"]
    assert rsc == [{"name": "ChatMember.Read.Chat", "type": "Application"},
                   {"name": "Chat.Manage.Chat", "type": "Application"},
                   {"name": "ChatMessage.Read.Chat", "type": "Application"}]  # every message: a true timeline


def test_link_unfurling_domains_add_the_dataverse_org(config: ManifestConfig) -> None:
    """Links to this service's record page and to the Dynamics organisation's record forms unfurl."""
    for source in ("https://contoso.crm4.dynamics.com", "dataverse:https://contoso.crm4.dynamics.com/"):
        m = build_manifest(replace(config, public_url="https://gw.contoso.com:8443/chats/", record_source=source))
        assert m["composeExtensions"][0]["messageHandlers"] == [
            {"type": "link", "value": {"domains": ["gw.contoso.com", "contoso.crm4.dynamics.com"]}}]
    local = build_manifest(replace(config, record_source="local:records/demo-directory.json"))
    assert local["composeExtensions"][0]["messageHandlers"][0]["value"]["domains"] == ["chats.contoso.com"]


def test_public_url_with_port_path_and_trailing_slash(config: ManifestConfig) -> None:
    """validDomains and the SSO resource take host:port only; tab URLs keep the path prefix, without '//'."""
    m = build_manifest(replace(config, public_url="https://gw.contoso.com:8443/chats/"))
    assert m["validDomains"] == ["gw.contoso.com:8443"]
    assert m["webApplicationInfo"]["resource"] == f"api://gw.contoso.com:8443/{config.sso_client_id}"
    assert m["staticTabs"][0]["contentUrl"] == "https://gw.contoso.com:8443/chats/tabs/admin?inTeams=1"


def test_version_defaults_to_pyproject_and_can_be_overridden(config: ManifestConfig) -> None:
    """Without --version the package carries pyproject's project version; an explicit version wins."""
    project_version = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    assert build_manifest(config)["version"] == project_version
    assert build_manifest(replace(config, version="2.5.1"))["version"] == "2.5.1"


def test_environment_read_and_flags_override() -> None:
    """config_from_env reads the documented variables and a non-None override beats the environment."""
    env = {"TEAMS_APP_ID": "a", "MicrosoftAppId": "b", "PUBLIC_URL": "https://x.example", "SSO_CLIENT_ID": "c"}
    cfg = config_from_env(env, bot_id="flag", version=None)
    assert (cfg.teams_app_id, cfg.bot_id, cfg.public_url, cfg.sso_client_id) == ("a", "flag", "https://x.example", "c")


def test_allow_http_for_local_playground(config: ManifestConfig) -> None:
    """With allow_http an http://localhost PUBLIC_URL builds, for a package used only with the local Playground."""
    m = build_manifest(replace(config, public_url="http://localhost:3978", allow_http=True))
    assert m["validDomains"] == ["localhost:3978"]
    assert m["staticTabs"][1]["contentUrl"] == "http://localhost:3978/tabs/my?inTeams=1"


# --- each failure ----------------------------------------------------------------------------------------------

def test_bad_teams_app_id(config: ManifestConfig) -> None:
    """A TEAMS_APP_ID that is not a GUID is reported once, at $.id, naming the variable."""
    found = problems(config=replace(config, teams_app_id="my-app"))
    assert list(found) == ["$.id"]
    assert "'my-app' from TEAMS_APP_ID is not a GUID" in found["$.id"]


def test_bad_bot_id(config: ManifestConfig) -> None:
    """A bad MicrosoftAppId is reported at every place the bot id goes, naming the variable."""
    found = problems(config=replace(config, bot_id="1234"))
    assert set(found) == {"$.bots[0].botId", "$.composeExtensions[0].botId"}
    assert "MicrosoftAppId" in found["$.bots[0].botId"] and "not a GUID" in found["$.bots[0].botId"]


def test_unset_settings_each_named() -> None:
    """With nothing configured, each missing setting is named once; no schema noise from derived URLs."""
    found = problems(config=ManifestConfig())
    assert set(found) == {"$.id", "$.bots[0].botId", "$.composeExtensions[0].botId", "$.webApplicationInfo.id",
                          "$.validDomains[0]"}
    assert found["$.webApplicationInfo.id"].startswith("SSO_CLIENT_ID is not set")
    assert found["$.validDomains[0]"].startswith("PUBLIC_URL is not set")


def test_missing_icon(config: ManifestConfig, icons: Path) -> None:
    """A missing colour icon fails the build at $.icons.color."""
    (icons / "color.png").unlink()
    found = problems(config=config, icons_dir=icons)
    assert list(found) == ["$.icons.color"]
    assert "not found" in found["$.icons.color"]


def test_wrong_icon_size(config: ManifestConfig, icons: Path) -> None:
    """A colour icon that is not exactly 192x192 fails with both sizes in the message."""
    Image.new("RGB", (100, 100), "#0F6E8C").save(icons / "color.png")
    found = problems(config=config, icons_dir=icons)
    assert found == {"$.icons.color": "color.png is 100x100 pixels, must be exactly 192x192"}


def test_outline_not_white(config: ManifestConfig, icons: Path) -> None:
    """One coloured pixel in the outline icon fails the build, with its position."""
    img = Image.open(icons / "outline.png").convert("RGBA")
    img.putpixel((3, 5), (255, 0, 0, 255))
    img.save(icons / "outline.png")
    found = problems(config=config, icons_dir=icons)
    assert list(found) == ["$.icons.outline"]
    assert "white on transparent" in found["$.icons.outline"] and "x=3, y=5" in found["$.icons.outline"]


def test_outline_without_transparency(config: ManifestConfig, icons: Path) -> None:
    """An all-white outline icon with no alpha channel is refused."""
    Image.new("RGB", (32, 32), "white").save(icons / "outline.png")
    assert "no transparency" in problems(config=config, icons_dir=icons)["$.icons.outline"]


def test_too_many_commands_fails_without_truncating(config: ManifestConfig, tmp_path: Path) -> None:
    """A catalog with more group-chat commands than a command list holds fails and writes no package."""
    limit = max_commands_per_list()
    assert limit == 12
    many = [Command(f"cmd{i}", f"cmd{i}", f"Command number {i}.", ("groupChat",)) for i in range(limit + 1)]
    out = tmp_path / "appPackage.zip"
    with pytest.raises(ManifestError) as caught:
        build_package(config, out, commands=[COMMANDS[0], *many])
    assert not out.exists()
    (problem,) = caught.value.problems
    assert problem.path == "$.bots[0].commandLists[1].commands"
    assert "14 commands for scope groupChat, but a command list holds at most 12" in problem.message


def test_command_description_too_long(config: ManifestConfig) -> None:
    """A catalog command whose description exceeds 128 characters is named by path and command."""
    long = Command("report", "report", "x" * 129, ("personal",))
    found = problems(config=config, commands=[*COMMANDS, long])
    assert list(found) == ["$.bots[0].commandLists[0].commands[6].description"]
    assert "129 characters, Teams allows at most 128 (command 'report')" in next(iter(found.values()))


def test_app_description_too_long(config: ManifestConfig, tmp_path: Path) -> None:
    """A template whose short description exceeds 80 characters fails at $.description.short."""
    template = json.loads(TEMPLATE.read_text())
    template["description"]["short"] = "Connects chats to records. " * 4
    path = tmp_path / "manifest.template.json"
    path.write_text(json.dumps(template))
    found = problems(config=config, template=path)
    assert list(found) == ["$.description.short"]
    assert found["$.description.short"].startswith("is 108 characters, Teams allows at most 80")


def test_schema_errors_are_reported_by_path(config: ManifestConfig, tmp_path: Path) -> None:
    """Problems only the JSON schema knows about (a bad accentColor) still fail the build, by path."""
    template = json.loads(TEMPLATE.read_text())
    template["accentColor"] = "teal"
    path = tmp_path / "manifest.template.json"
    path.write_text(json.dumps(template))
    found = problems(config=config, template=path)
    assert list(found) == ["$.accentColor"]
    assert found["$.accentColor"].endswith("(v1.30 schema)")


def test_http_public_url_rejected(config: ManifestConfig) -> None:
    """An http PUBLIC_URL is refused once with the reason and the --allow-http way out."""
    found = problems(config=replace(config, public_url="http://chats.contoso.com"))
    assert list(found) == ["$.validDomains[0]"]
    assert "uses http" in found["$.validDomains[0]"] and "--allow-http" in found["$.validDomains[0]"]


# --- the command line ------------------------------------------------------------------------------------------

def run_cli(tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items()
             if k not in ("TEAMS_APP_ID", "MicrosoftAppId", "PUBLIC_URL", "SSO_CLIENT_ID", "APP_VERSION")}
    clean["PYTHONPATH"] = str(ROOT)
    return subprocess.run([sys.executable, "-m", "manifest", "build", *args], cwd=tmp_path, env={**clean, **env},
                          capture_output=True, text=True, timeout=60)


def test_cli_builds_into_build_folder_with_flags_overriding_env(tmp_path: Path) -> None:
    """`python -m manifest build` writes build/appPackage.zip in the working directory; flags beat env vars."""
    app_id = new_guid()
    env = {"TEAMS_APP_ID": "not-a-guid", "MicrosoftAppId": new_guid(), "PUBLIC_URL": "https://chats.contoso.com",
           "SSO_CLIENT_ID": new_guid()}
    done = run_cli(tmp_path, env, "--app-id", app_id, "--version", "3.0.0")
    assert done.returncode == 0, done.stderr
    with zipfile.ZipFile(tmp_path / "build" / "appPackage.zip") as zf:
        manifest = json.loads(zf.read("manifest.json"))
    assert (manifest["id"], manifest["version"]) == (app_id, "3.0.0")


def test_cli_failure_is_readable(tmp_path: Path) -> None:
    """On bad configuration the CLI exits 1 and prints one `<path>: <message>` line per problem, no traceback."""
    env = {"TEAMS_APP_ID": "not-a-guid", "MicrosoftAppId": new_guid(), "PUBLIC_URL": "http://chats.contoso.com",
           "SSO_CLIENT_ID": new_guid()}
    done = run_cli(tmp_path, env, "--out", "pkg/app.zip")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert lines[0] == "Teams app package not built, 2 problem(s):"
    assert lines[1].startswith("  $.id: 'not-a-guid' from TEAMS_APP_ID is not a GUID")
    assert lines[2].startswith("  $.validDomains[0]: PUBLIC_URL 'http://chats.contoso.com' uses http")
    assert not (tmp_path / "pkg").exists()


# --- the icons and the schema copy -----------------------------------------------------------------------------

def test_committed_icons_come_from_the_generator() -> None:
    """manifest/icons.py regenerates exactly the committed PNGs, so the script stays their source."""
    for committed, generated in ((ICONS / "color.png", color_icon()), (ICONS / "outline.png", outline_icon())):
        with Image.open(committed) as img:
            assert img.mode == generated.mode and img.size == generated.size
            assert img.tobytes() == generated.tobytes(), f"{committed.name}: run python -m manifest.icons"


def test_colour_icon_is_full_colour() -> None:
    """The colour icon is opaque and uses several colours (not a white-on-transparent glyph)."""
    with Image.open(ICONS / "color.png") as img:
        assert img.mode == "RGB"
        assert len(img.getcolors(maxcolors=192 * 192) or []) > 10


@pytest.mark.skipif(not SHARED_SCHEMA.exists(), reason="the shared schema copy is not on this machine")
def test_vendored_schema_matches_shared_copy() -> None:
    """The schema shipped in manifest/ is the v1.30 schema the project was given."""
    assert json.loads(SCHEMA_PATH.read_text()) == json.loads(SHARED_SCHEMA.read_text())


# --- Microsoft's own validator (optional) ----------------------------------------------------------------------

VALIDATE_JS = """
const {AppManifestUtils} = require("@microsoft/app-manifest");
AppManifestUtils.readAndValidateTeamsManifest(process.argv[2]).then(
  ([, errors]) => { console.log(JSON.stringify(errors)); process.exit(errors.length ? 1 : 0); },
  (e) => { console.error(String(e)); process.exit(2); });
"""


def test_microsoft_app_manifest_validator(config: ManifestConfig, tmp_path: Path) -> None:
    """@microsoft/app-manifest (bundled v1.30 schema, ajv, offline) accepts the built manifest and rejects a bad one."""
    npm, node = shutil.which("npm"), shutil.which("node")
    if not npm or not node:
        pytest.skip("node/npm not installed: Microsoft's manifest validator cannot run here")
    scratch = tmp_path / "npm"
    scratch.mkdir()
    install = subprocess.run([npm, "install", "--no-audit", "--no-fund", "--prefix", str(scratch),
                              "@microsoft/app-manifest@1.1.2", "fs-extra@11"], capture_output=True, text=True,
                             timeout=300)
    if install.returncode != 0:
        pytest.skip(f"npm install of @microsoft/app-manifest failed (offline?): {install.stderr[-300:]}")
    script = scratch / "validate.js"
    script.write_text(VALIDATE_JS)
    good = tmp_path / "manifest.json"
    good.write_text(json.dumps(build_manifest(config)))
    done = subprocess.run([node, str(script), str(good)], cwd=scratch, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({**build_manifest(config), "id": "not-a-guid"}))
    done = subprocess.run([node, str(script), str(bad)], cwd=scratch, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and "/id" in done.stdout
