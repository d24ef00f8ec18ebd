"""The admin tab in real headless Chromium (Debian's, driven by Playwright): outside Teams the page gets its
SSO token from a stubbed Teams JS SDK (an init script), exactly where the real SDK would give it."""
from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from playwright.async_api import expect

from tests.admin_support import Tab, start_tab
from tests.fake_connector import FakeConnector
from tests.fake_graph import FakeGraph
from tests.fake_identity import FakeIdentity
from tests.teams import ALEX, GROUP, ISAIAH, PATTI

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
ROOT = Path(__file__).resolve().parent.parent
ARTIFACTS = ROOT / "tests" / "artifacts"
pytestmark = [pytest.mark.browser,
              pytest.mark.skipif(not os.path.exists(CHROMIUM),
                                 reason=f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` "
                                        "(CI does); Playwright's own browsers are never downloaded")]


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as fake:
        yield fake


@pytest.fixture
async def tab(sqlite_url: str, connector: FakeConnector, http: aiohttp.ClientSession,
              graph: FakeGraph) -> AsyncIterator[Tab]:
    async with FakeIdentity() as entra:
        client, runner = await start_tab(sqlite_url, entra, connector, http, graph_base_url=graph.url,
                                         graph_auth="none")
        yield client
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield chromium
        await chromium.close()


async def open_as(browser: Any, tab: Tab, user: str, path: str = "/tabs/admin", via: str = "teams") -> Any:
    """A page whose Teams SDK stub (or, via="hook", the plain-browser token hook) hands out `user`'s SSO token,
    loaded until its body is in."""
    token = json.dumps(tab.entra.token(user))
    context = await browser.new_context(viewport={"width": 1100, "height": 900}, color_scheme="light")
    await context.add_init_script(
        f"window.connectedChatsGetToken = async () => {token};" if via == "hook" else
        "window.microsoftTeams = {app: {initialize: async () => {}},"
        f" authentication: {{getAuthToken: async () => {token}}}}};")
    page = await context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.errors = errors
    await page.goto(tab.url + path)
    await page.wait_for_selector("#content[aria-busy=false]")
    return page


async def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    # A viewport as tall as the page keeps the fixed save bar at the bottom of the picture.
    height = await page.evaluate("document.documentElement.scrollHeight")
    await page.set_viewport_size({"width": 1100, "height": min(int(height), 6000)})
    await page.screenshot(path=str(path), full_page=True)
    await page.set_viewport_size({"width": 1100, "height": 900})
    return path


async def test_admin_edits_save_and_survive_reload(tab: Tab, browser: Any):
    """Flip toggles, add the work order type, pick its attributes, save, reload: the page shows the change."""
    page = await open_as(browser, tab, PATTI)
    await page.check("#all_apps-yes")
    await page.click("details[data-type=account] summary")
    await page.focus("#account-join")
    await page.keyboard.press("Space")  # keyboard works on the switches
    await page.select_option("#add-type", "msdyn_workorder")
    await page.click("button[data-act=add-type]")
    panel = page.locator("details[data-type=msdyn_workorder]")
    await panel.locator("[data-key=notify]").check()
    await panel.locator("input[data-watch][value=msdyn_priority]").check()
    await panel.locator("input[data-watch][value=msdyn_systemstatus]").check()
    await panel.locator("select[data-key=view]").select_option("Quick Find Active Work Orders")
    await page.click("details[data-type=account] summary")  # fold it again for a shorter README picture
    shutil.copyfile(await shot(page, "admin-before-save"), ROOT / "docs" / "admin-tab.png")
    await page.click("#save")
    await page.wait_for_selector("#save-status.good")
    assert "Saved" in await page.text_content("#save-status")

    await page.reload()
    await page.wait_for_selector("#content[aria-busy=false]")
    assert await page.is_checked("#all_apps-yes")
    assert await page.is_checked("#account-join")
    reloaded = page.locator("details[data-type=msdyn_workorder]")
    assert await reloaded.locator("[data-key=notify]").is_checked()
    assert await reloaded.locator("input[data-watch][value=msdyn_priority]").is_checked()
    assert await reloaded.locator("select[data-key=view]").input_value() == "Quick Find Active Work Orders"
    await shot(page, "admin-after-reload")
    saved, _ = await tab.settings(PATTI)
    assert saved["all_apps"] is True and saved["record_types"]["account"]["join_chat"] is True
    assert saved["record_types"]["msdyn_workorder"]["watched"] == ["msdyn_priority", "msdyn_systemstatus"]
    assert page.errors == []


async def test_attribute_limit_and_server_errors_are_shown(tab: Tab, browser: Any):
    """The page stops at five attributes, and a rule the server refuses is announced next to its field."""
    page = await open_as(browser, tab, PATTI)
    case = page.locator("details[data-type=incident]")
    await case.locator("summary").click()
    for name in ("caseorigincode", "title"):  # the case already watches three
        await case.locator(f"input[data-watch][value={name}]").check()
    assert await case.locator("input[data-watch][value=description]").is_disabled()
    assert "5 of 5" in await case.locator("[data-limit-status]").text_content()
    await case.locator("[data-act=add-rule]").click()
    rule = case.locator(".rule").last
    await rule.locator("[data-key=name]").fill("Contact's owner")
    await rule.locator("[data-key=path]").fill("primarycontactid")  # a contact, not a user: refused
    await page.click("#save")
    await page.wait_for_selector("#save-status.bad")
    assert "must point at a user" in await page.text_content("#save-status")
    assert await case.locator(".rule-list").get_attribute("aria-invalid") == "true"
    await shot(page, "admin-validation-error")
    saved, _ = await tab.settings(PATTI)
    assert len(saved["record_types"]["incident"]["watched"]) == 3


async def test_agent_sees_read_only_settings(tab: Tab, browser: Any):
    """An agent's token (from the plain-browser hook) shows the settings without Save, every control disabled."""
    page = await open_as(browser, tab, ALEX, via="hook")
    assert await page.locator("#save").count() == 0
    assert await page.is_disabled("#teams_chat_enabled")
    assert "only administrators" in await page.text_content("#content")
    await shot(page, "admin-read-only")


async def test_timeline_sync_read_only_with_reason(tab: Tab, browser: Any):
    """SYNC-01 on the page: a System Administrator who is not a global admin sees the switch locked and why."""
    page = await open_as(browser, tab, PATTI)
    assert await page.is_disabled("#timeline_sync")
    assert "global administrator" in await page.text_content("#timeline_sync-hint")


async def test_record_view_and_audit_pages(tab: Tab, browser: Any, graph: FakeGraph):
    """The record view shows rights per caller and disconnects; the audit page lists the events."""
    graph.add_chat(GROUP, members=[ALEX], topic="Printer outage")
    await tab.bot.say("connect case CAS-01001-K7R2M8")
    record = "/tabs/record?type=case&id=CAS-01001-K7R2M8&app=Customer%20Service%20Hub"
    isaiah = await open_as(browser, tab, ISAIAH, record)
    assert await isaiah.locator("button[data-act=disconnect]").count() == 0
    assert await isaiah.locator("button[data-act=join]").count() == 1
    await shot(isaiah, "record-view-isaiah")
    alex = await open_as(browser, tab, ALEX, record)
    await alex.click("button[data-act=disconnect]")
    await alex.wait_for_selector("#record-status.good")
    assert "No chats are connected" in await alex.text_content("#content")
    audit = await open_as(browser, tab, PATTI, "/tabs/audit")
    await expect(audit.locator("table.audit tbody tr")).to_have_count(2)
    await audit.select_option("select[name=event]", "disconnect")
    await audit.click("#audit-filters button[type=submit]")
    await expect(audit.locator("table.audit tbody tr")).to_have_count(1)
    await shot(audit, "audit")
    assert isaiah.errors == [] and alex.errors == [] and audit.errors == []


async def test_find_a_table_and_add_it(tab: Tab, browser: Any):
    """Issue 14: "Find a table" searches the record source's tables; the one picked is added and saved."""
    page = await open_as(browser, tab, PATTI)
    await page.fill("#type-search", "work")
    await page.press("#type-search", "Enter")  # searches; does not submit the form
    await expect(page.locator("#add-type option")).to_have_text(["Work Order (msdyn_workorder)"])
    await page.click("button[data-act=add-type]")
    await expect(page.locator("details.rtype[data-type=msdyn_workorder]")).to_have_count(1)
    await page.click("#save")
    await expect(page.locator("#save-status")).to_contain_text("Saved")
    settings, _ = await tab.settings(PATTI)
    assert "msdyn_workorder" in settings["record_types"]
    assert page.errors == []


async def test_profile_members_are_picked_by_name(tab: Tab, browser: Any):
    """Issue 14: a profile's members are found by name and shown as names; the settings keep their CRM ids."""
    page = await open_as(browser, tab, PATTI)
    await page.click("button[data-act=add-profile]")
    row = page.locator("#profile-rows .profile").last
    await row.locator("[data-key=name]").fill("Night shift")
    await row.locator("[data-key=on]").uncheck()
    await row.locator("[data-key=person]").fill("megan")
    await row.locator("[data-key=person]").press("Enter")
    await row.get_by_role("button", name="Megan Bowen (meganb@contoso.example)").click()
    await expect(row.locator(".chips li")).to_have_text(["Megan Bowen ✕"])
    await page.click("#save")
    await expect(page.locator("#save-status")).to_contain_text("Saved")
    settings, _ = await tab.settings(PATTI)
    assert settings["profiles"] == {"Night shift": False}
    assert settings["profile_members"] == {"Night shift": ["0a7e3c52-1b2f-ef11-8409-000d3a4b9c21"]}
    assert page.errors == []
