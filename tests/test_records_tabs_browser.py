"""The chat's Records tab, its configuration page and "My records" in headless Chromium. The Teams host is a stub
of the Teams JS SDK (an init script): SSO token, app.getContext() with the chat, pages.config for the setup page.
The pictures go to docs/ for the README."""
from __future__ import annotations

import json
import shutil
from typing import Any

from tests.admin_support import Tab
from tests.fake_graph import FakeGraph
from tests.teams import ALEX, GROUP, MEGAN
from tests.test_admin_browser import ROOT, browser, graph, pytestmark, shot, tab  # noqa: F401  (fixtures)

CASE = "CAS-01001-K7R2M8"
OTHER = "19:5ec0nd0chat@thread.v2"


async def open_in_teams(browser: Any, tab: Tab, user: str, path: str, chat: str | None = None) -> Any:  # noqa: F811
    token = json.dumps(tab.entra.token(user))
    context = await browser.new_context(viewport={"width": 1000, "height": 800}, color_scheme="light")
    await context.add_init_script(
        "window.savedConfig = null; window.microsoftTeams = {"
        " app: {initialize: async () => {},"
        f"       getContext: async () => ({{chat: {json.dumps({'id': chat} if chat else None)} || undefined}})}},"
        f" authentication: {{getAuthToken: async () => {token}}},"
        " pages: {config: {registerOnSaveHandler: (h) => { window.saveHandler = h; },"
        "   setValidityState: (v) => { window.valid = v; },"
        "   setConfig: async (c) => { window.savedConfig = c; }}}};")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    await page.goto(tab.url + path)
    await page.wait_for_selector("#content[aria-busy=false]")
    return page


async def test_chat_tab_search_connect_and_join(tab: Tab, browser: Any, graph: FakeGraph):  # noqa: F811
    graph.add_chat(GROUP, members=[ALEX], topic="Printer outage, floor 2")
    graph.add_chat(OTHER, members=[ALEX, MEGAN], topic="Escalation 7")
    await tab.bot.say(f"connect case {CASE}")
    await tab.bot.say(f"connect case {CASE}", conv=OTHER)

    page = await open_in_teams(browser, tab, ALEX, "/tabs/chat?inTeams=1", chat=GROUP)
    assert "Cannot sign in to the customer portal" in await page.text_content("#content")
    await page.fill("#find-q", "outage")
    await page.click(".find-form button[type=submit]")
    await page.wait_for_selector(".found[aria-busy=false] .found-list")
    results = page.locator(".found-list li")
    assert "Contoso - printer outage in building 4" in await results.first.text_content()
    shutil.copyfile(await shot(page, "chat-tab-search"), ROOT / "docs" / "search-result.png")
    await results.first.locator("button[data-act=connect]").click()
    await page.wait_for_selector("#tab-status.good")
    assert "Record connected." in await page.text_content("#tab-status")
    assert await page.locator("article.connected-record").count() == 2
    shutil.copyfile(await shot(page, "chat-tab"), ROOT / "docs" / "chat-tab.png")

    # Megan, in the other chat, sees this one as joinable and joins it from her chat's tab.
    megan = await open_in_teams(browser, tab, MEGAN, "/tabs/chat?inTeams=1", chat=OTHER)
    await megan.locator("button[data-act=join]").first.click()
    await megan.wait_for_selector("#tab-status.good")
    assert "added to" in await megan.text_content("#tab-status")
    assert graph.calls("POST", r"/chats/.*/members")
    assert page.errors == [] and megan.errors == []


async def test_chat_tab_outside_a_chat_and_its_configuration(tab: Tab, browser: Any):  # noqa: F811
    page = await open_in_teams(browser, tab, ALEX, "/tabs/chat?inTeams=1")
    assert "Open this tab in a group chat" in await page.text_content("#content")
    setup = await open_in_teams(browser, tab, ALEX, "/tabs/chat/config?inTeams=1", chat=GROUP)
    assert await setup.evaluate("window.valid") is True
    await setup.evaluate("new Promise((ok) => window.saveHandler({notifySuccess: ok, notifyFailure: ok}))")
    saved = await setup.evaluate("window.savedConfig")
    assert saved["contentUrl"] == tab.url + "/tabs/chat?inTeams=1" and saved["suggestedDisplayName"] == "Records"
    assert page.errors == [] and setup.errors == []


async def test_my_records_tab(tab: Tab, browser: Any, graph: FakeGraph):  # noqa: F811
    graph.add_chat(GROUP, members=[ALEX], topic="Printer outage, floor 2")
    await tab.bot.say(f"connect case {CASE}")
    await tab.bot.say("connect account ACC-1001")
    page = await open_in_teams(browser, tab, ALEX, "/tabs/my?inTeams=1")
    text = await page.text_content("#content")
    assert "Contoso Ltd" in text and "Printer outage, floor 2" in text and "Open chat" in text
    await page.fill("#find-q", "CAS-0100")
    await page.click(".find-form button[type=submit]")
    await page.wait_for_selector(".found[aria-busy=false] .found-list")
    assert await page.locator(".found-list button[data-act=connect]").count() == 0  # no chat to connect to here
    shutil.copyfile(await shot(page, "my-records"), ROOT / "docs" / "my-records.png")
    assert page.errors == []
