"""Issue 15's lifecycle policy on the admin settings page in headless Chromium: shown per type with the case
defaults, edited, saved, reloaded; a combination the server refuses is announced at its field."""
from __future__ import annotations

from typing import Any

from tests.admin_support import Tab
from tests.teams import PATTI
from tests.test_admin_browser import browser, graph, open_as, pytestmark, tab  # noqa: F401  (fixtures)


async def test_lifecycle_policy_edited_saved_and_refused(tab: Tab, browser: Any):  # noqa: F811
    page = await open_as(browser, tab, PATTI)
    case = page.locator("details[data-type=incident]")
    await case.locator("summary").click()
    life = case.locator("fieldset.lifecycle")
    assert await life.locator("[data-key=life_reassign_notice]").is_checked()
    assert await life.locator("[data-key=life_reassign_add]").input_value() == "button"
    assert not await life.locator("[data-key=life_close_disconnect]").is_checked()
    account = page.locator("details[data-type=account]")
    await account.locator("summary").click()
    assert not await account.locator("[data-key=life_close_notice]").is_checked()

    await life.locator("[data-key=life_reassign_add]").select_option("auto")
    await life.locator("[data-key=life_close_disconnect]").check()
    await page.click("#save")
    await page.wait_for_selector("#save-status.good")
    await page.reload()
    await page.wait_for_selector("#content[aria-busy=false]")
    case = page.locator("details[data-type=incident]")
    assert await case.locator("[data-key=life_reassign_add]").input_value() == "auto"
    assert await case.locator("[data-key=life_close_disconnect]").is_checked()
    saved, _ = await tab.settings(PATTI)
    assert saved["record_types"]["incident"]["lifecycle"]["reassign_add"] == "auto"

    await case.locator("summary").click()
    await case.locator("[data-key=join_chat]").uncheck()  # adding the owner follows Join: refused without it
    await page.click("#save")
    await page.wait_for_selector("#save-status.bad")
    assert "Join" in await page.text_content("#save-status")
    assert await case.locator("[data-key=life_reassign_add]").get_attribute("aria-invalid") == "true"
    assert page.errors == []
