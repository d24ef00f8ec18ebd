"""The bot's help, the manifest's command lists and the README's command table say the same thing, and the running
bot's router registers exactly the catalog's commands (so the two cannot drift)."""
from __future__ import annotations

import re
from pathlib import Path

from app import ROUTER
from bots.catalog import COMMANDS
from manifest import ManifestConfig, build_manifest
from tests.conftest import Running
from tests.fake_connector import FakeConnector
from tests.teams import GROUP

README = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")


def readme_commands() -> dict[str, str]:
    rows = re.findall(r"^\| `([^`]+)` \| (.+?) \|$", README, re.MULTILINE)
    return {usage.split()[0]: description for usage, description in rows if usage.split()[0].isalpha()}


def test_readme_table_matches_catalog():
    """Every command is in the README's table with the catalog's usage and description, and nothing else."""
    table = readme_commands()
    assert set(table) == {c.name for c in COMMANDS}
    for command in COMMANDS:
        assert f"| `{command.usage}` | {command.description} |" in README


def test_manifest_lists_match_catalog():
    """The manifest's command list per scope holds exactly the catalog's commands for that scope."""
    config = ManifestConfig(teams_app_id="7c1a3d2e-5b4f-4a6e-9d8c-1f2e3d4c5b6a",
                            bot_id="2b3c4d5e-6f70-4812-9a3b-4c5d6e7f8091", public_url="https://chats.contoso.com")
    manifest = build_manifest(config)
    for entry in manifest["bots"][0]["commandLists"]:
        expected = [(c.name, c.description) for c in COMMANDS if entry["scopes"][0] in c.scopes]
        assert [(c["title"], c["description"]) for c in entry["commands"]] == expected


async def test_help_lists_every_group_chat_command(running: Running, connector: FakeConnector):
    """The bot's help in a group chat names every command usable there, with the catalog's words."""
    await running.bot.say("help")
    text = connector.texts(GROUP)[-1]
    for command in COMMANDS:
        if "groupChat" in command.scopes:
            assert f"**{command.usage}**: {command.description}" in text


async def test_router_registers_exactly_the_catalog(running: Running):
    """Every catalog command has a handler in the running bot and nothing else is routed; the README's card verbs
    are exactly the router's."""
    router = running.app[ROUTER]
    assert router.listed() == COMMANDS
    assert set(router.commands) == {c.name for c in COMMANDS}
    verbs = re.search(r"Action.Execute` \(verbs ([^)]*)\)", README.replace("\n", " "))
    assert verbs is not None
    assert set(re.findall(r"`(\w+)`", verbs.group(1))) == set(router.verbs)
