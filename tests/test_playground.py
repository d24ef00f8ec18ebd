"""Microsoft 365 Agents Playground, Microsoft's offline Teams simulator, against this service: the shipped mock tenant
matches the demo directory, and an end-to-end run drives the Playground's web UI in headless Chromium (group chat
connect, card buttons, the message extension, the 1:1 chat and channel refusals) and saves screenshots."""
from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import DEMO, Running
from tests.fake_connector import FakeConnector
from tests.playground_support import (
    CHROMIUM,
    CONFIG,
    ROOT,
    Proc,
    ensure_installed,
    listening_addresses,
    missing_tools,
    start_playground,
    start_service,
)
from tests.teams import BOT_ID, BOT_NAME, GROUP, TENANT

ARTIFACTS = ROOT / "tests" / "artifacts"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
CASE, TITLE = "CAS-01001-K7R2M8", "Cannot sign in to the customer portal"
WELCOME = "Hi! I connect this chat to CRM records"
WAIT_MS = 20_000
SKIP = missing_tools()


def test_shipped_config_matches_demo_directory():
    """The Playground's mock tenant: Alex Wilber signed in, five demo users with their directory aad ids."""
    config = yaml.safe_load(CONFIG.read_text())
    directory = {u["aadObjectId"]: u for u in json.loads(DEMO.read_text())["users"]}
    assert config["version"] == "0.1.1" and config["tenantId"] == TENANT
    assert config["bot"] == {"id": BOT_ID, "name": BOT_NAME}
    assert config["currentUser"]["name"] == "Alex Wilber"
    people = [config["currentUser"], *config["users"]]
    assert len(config["users"]) == 5  # the Playground's schema wants exactly five
    assert len({p["id"] for p in people}) == 6
    for person in people:
        known = directory[person["aadObjectId"]]
        assert (person["name"], person["email"]) == (known["name"], known["email"])
        assert person["givenName"] + " " + person["surname"] == person["name"]
    assert directory[config["users"][0]["aadObjectId"]]["name"] == "Megan Bowen"
    assert config["users"][0]["aadObjectId"] == "7faf8ab2-3d56-4244-b585-20c8a42ed2b8"
    assert config["groupChat"]["name"] == "Group Chat"


async def test_install_pair_welcomes_once(running: Running, connector: FakeConnector):
    """Teams and the Playground announce an install twice (installationUpdate add, conversationUpdate membersAdded):
    the chat gets one welcome, and the chat can be connected afterwards."""
    base = {"channelId": "msteams", "serviceUrl": connector.url, "recipient": {"id": BOT_ID, "name": BOT_NAME},
            "from": {"id": "29:alex-wilber", "aadObjectId": "00000000-0000-0000-0000-0000000000020"},
            "conversation": {"isGroup": True, "conversationType": "groupChat", "tenantId": TENANT, "id": GROUP},
            "channelData": {"tenant": {"id": TENANT}}}
    for extra in ({"type": "installationUpdate", "action": "add"},
                  {"type": "conversationUpdate", "membersAdded": [{"id": BOT_ID}]}):
        status, _ = await running.bot.post({**base, "id": extra["type"], **extra})
        assert status == 200
    assert [t for t in connector.texts(GROUP) if WELCOME in t] != []
    assert len(connector.by_conversation[GROUP]) == 1
    await running.bot.say(f"connect case {CASE}")
    assert len(connector.cards(GROUP)) == 2


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[str, Proc, Proc]]:
    """The service and the Playground, stopped whatever happens."""
    cli = ensure_installed()
    procs: list[Proc] = []
    try:
        service, bot_url = start_service(tmp_path)
        procs.append(service)
        playground, port = start_playground(tmp_path, cli, bot_url)
        procs.append(playground)
        yield f"http://127.0.0.1:{port}", service, playground
    finally:
        for proc in reversed(procs):
            proc.stop()


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"playground-{name}.png"
    page.screenshot(path=str(path))
    return path


def say(page: Any, text: str, mention: bool) -> None:
    """Type into the compose box like a person: `@`, pick the bot from the mention menu, then the text."""
    box = page.get_by_role("textbox").first
    box.click()
    if mention:
        box.press_sequentially("@")
        page.get_by_role("menuitem", name=BOT_NAME).click()
        box.press_sequentially(" ")
    box.press_sequentially(text)
    box.press("Enter")


def card(page: Any, text: str) -> Any:
    return page.locator(".ac-adaptiveCard", has_text=text)


def bot_said(page: Any, text: str) -> Any:
    """A message in the open conversation (chat list previews repeat its start, so only paragraphs count)."""
    return page.get_by_role("paragraph").filter(has_text=text)


def open_chat(page: Any, name: str) -> None:
    page.get_by_role("treeitem", name=name).click()


def send_custom_activity(page: Any, activity: dict[str, Any]) -> None:
    """Mock an Activity > Custom activity: the Playground has no message extension UI (it ignores the manifest),
    but it sends any activity typed into this editor and shows the bot's answer in its log panel."""
    page.get_by_role("button", name="Mock an Activity").click()
    page.get_by_role("menuitem", name="Custom activity").click()
    page.locator(".monaco-editor").click()
    page.keyboard.press("Control+A")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(json.dumps(activity))  # insert, not type: the editor would auto-close brackets
    page.get_by_role("button", name="Send activity").click()


@pytest.mark.browser
@pytest.mark.skipif(bool(SKIP), reason=SKIP or "tools present")
def test_playground_end_to_end(stack: tuple[str, Proc, Proc]):
    """In the Playground, on loopback only: one welcome, `@bot connect case` shows the context card, card buttons
    replace the card, the message extension posts its card, 1:1 chat and channel are refused."""
    from playwright.sync_api import sync_playwright

    url, service, playground = stack
    (ARTIFACTS / "playground-failure.png").unlink(missing_ok=True)
    port = int(url.rsplit(":", 1)[1])
    for proc in (service, playground):
        addresses = listening_addresses(proc.popen.pid)
        assert addresses and {ip for ip, _ in addresses} == {"127.0.0.1"}, (proc.name, addresses)
    assert ("127.0.0.1", port) in listening_addresses(playground.popen.pid)

    with sync_playwright() as p:
        with tempfile.TemporaryDirectory() as profile_dir:  # a fresh profile: nothing from earlier runs
            browser = p.chromium.launch_persistent_context(profile_dir, executable_path=CHROMIUM, headless=True,
                                                           args=ARGS, viewport={"width": 1400, "height": 1000})
            try:
                browser.set_default_timeout(WAIT_MS)
                page = browser.pages[0] if browser.pages else browser.new_page()
                _drive(page, url, port)
            except Exception as exc:
                if browser.pages:
                    shot(browser.pages[0], "failure")
                raise AssertionError(f"{exc}\n{service.tail()}\n{playground.tail()}") from exc
            finally:
                browser.close()


def _drive(page: Any, url: str, port: int) -> None:
    page.goto(url)
    open_chat(page, "Group Chat")
    bot_said(page, WELCOME).first.wait_for()
    page.wait_for_timeout(1500)  # a second welcome would have arrived by now
    assert bot_said(page, WELCOME).count() == 1

    say(page, f"connect case {CASE}", mention=True)
    card(page, TITLE).filter(has_text="Priority").wait_for()
    card(page, "Connected to case by Alex Wilber").wait_for()
    connected = shot(page, "connected")
    (ROOT / "docs").mkdir(exist_ok=True)
    shutil.copy(connected, ROOT / "docs" / "playground.png")

    card(page, "Connected to case by").get_by_role("button", name="Records of this chat").click()
    records = card(page, "Records connected to this chat")
    records.filter(has_text="Connected by Alex Wilber").wait_for()
    shot(page, "records")
    records.get_by_role("button", name="Disconnect").click()
    card(page, "Disconnected from case by Alex Wilber").wait_for()
    shot(page, "disconnected")

    send_custom_activity(page, _extension_submit(port, "account", "ACC-1001"))
    card(page, "Connected to account by Alex Wilber").filter(has_text="Contoso Ltd (ACC-1001)").wait_for()
    shot(page, "message-extension")

    # Issue 13 in the Playground: the chats list names the chat (from what the Playground sends, or its members
    # read from its mock connector's pagedmembers), shows the number, and Alex, a member, gets Open chat.
    say(page, "chats account ACC-1001", mention=True)
    chats = card(page, "Connected chats: 1").filter(has_text="Contoso Ltd (ACC-1001)")
    chats.filter(has_text="You're in this chat.").wait_for()
    named = chats.last.inner_text()
    assert "Open chat" in named and ("Group Chat" in named or "Alex Wilber" in named), named
    shot(page, "chats-named")

    open_chat(page, "Personal Chat")
    say(page, f"connect case {CASE}", mention=False)
    bot_said(page, "Only group chats can be connected to records, and this is a one-to-one chat").wait_for()
    open_chat(page, "General")
    say(page, f"connect case {CASE}", mention=True)
    bot_said(page, "Only group chats can be connected to records, and this is a channel").wait_for()
    shot(page, "channel")


def _extension_submit(port: int, record_type: str, key: str) -> dict[str, Any]:
    config = yaml.safe_load(CONFIG.read_text())
    me = config["currentUser"]
    return {"type": "invoke", "name": "composeExtension/submitAction", "channelId": "msteams",
            "serviceUrl": f"http://127.0.0.1:{port}/_connector",
            "recipient": {"id": config["bot"]["id"], "name": config["bot"]["name"]},
            "from": {"id": me["id"], "name": me["name"], "aadObjectId": me["aadObjectId"]},
            "conversation": {"id": config["groupChat"]["id"], "isGroup": True, "conversationType": "groupChat",
                             "tenantId": config["tenantId"]},
            "channelData": {"tenant": {"id": config["tenantId"]}},
            "value": {"commandId": "connectToRecord", "commandContext": "compose",
                      "data": {"action": "connectToRecord", "recordType": record_type, "recordKey": key}}}
