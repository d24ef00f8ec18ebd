"""The chat's Records tab and the personal "My records" tab over HTTP with SSO tokens (fake Entra ID) and the
fake Graph for membership; the browser test (test_records_tabs_browser.py) drives the same pages in Chromium."""
from __future__ import annotations

from tests.admin_support import Tab
from tests.fake_graph import FakeGraph
from tests.teams import ALEX, GROUP, ISAIAH, MEGAN
from tests.test_admin_records_audit import entra, graph, tab  # noqa: F401  (the app with SSO and fake Graph)

CASE = "CAS-01001-K7R2M8"
OTHER = "19:5ec0nd0chat@thread.v2"


async def two_chats(tab: Tab, graph: FakeGraph) -> None:  # noqa: F811
    """The case is connected to GROUP (Alex alone) and to OTHER (Alex and Megan)."""
    graph.add_chat(GROUP, members=[ALEX], topic="Printer outage")
    graph.add_chat(OTHER, members=[ALEX, MEGAN], topic="Escalation <b>7</b>")
    await tab.bot.say(f"connect case {CASE}")
    await tab.bot.say(f"connect case {CASE}", conv=OTHER)
    await tab.bot.say("connect account ACC-1001")


async def test_chat_tab_lists_records_fields_and_other_chats(tab: Tab, graph: FakeGraph):  # noqa: F811
    await two_chats(tab, graph)
    reply = await tab.get(f"/tabs/chat/panel?chat={GROUP}", ALEX)
    assert reply.status == 200, reply.body
    body = reply.body
    assert "Cannot sign in to the customer portal" in body and '<span class="number">CAS-01001-K7R2M8</span>' in body
    assert "Contoso Ltd" in body and "ACC-1001" in body  # both connected records
    assert "<dt>Priority</dt>" in body  # key fields of the chosen view
    assert 'data-act="disconnect"' in body
    assert "Escalation &lt;b&gt;7&lt;/b&gt;" in body and "Open chat" in body  # Alex is in the other chat
    assert f'data-chat="{GROUP}"' in body


async def test_chat_tab_is_for_members_of_a_chat_with_the_bot(tab: Tab, graph: FakeGraph):  # noqa: F811
    await two_chats(tab, graph)
    assert (await tab.get(f"/tabs/chat/panel?chat={GROUP}", MEGAN)).status == 403
    assert (await tab.get(f"/tabs/chat/panel?chat={GROUP}")).status == 401
    bad = await tab.get("/tabs/chat/panel?chat=19:abc@thread.tacv2", ALEX)
    assert bad.status == 400 and bad.body["field"] == "chat"
    assert (await tab.get("/tabs/chat/panel?chat=19:nobot@thread.v2", ALEX)).status == 409
    # Megan is in OTHER: she sees it, with a Join button for GROUP (she has write access, join is on for cases).
    other = await tab.get(f"/tabs/chat/panel?chat={OTHER}", MEGAN)
    assert other.status == 200 and 'data-act="join"' in other.body and "Printer outage" in other.body


async def test_find_in_a_tab_connects_only_with_a_chat(tab: Tab, graph: FakeGraph):  # noqa: F811
    await two_chats(tab, graph)
    found = await tab.get(f"/tabs/find/panel?q=printer&chat={GROUP}", ALEX)
    assert found.status == 200 and "Contoso - printer outage in building 4" in found.body
    assert 'data-act="connect"' in found.body
    plain = await tab.get("/tabs/find/panel?q=printer", ISAIAH)
    assert "RE: Printer outage" not in plain.body and 'data-act="connect"' not in plain.body
    hostile = await tab.get("/tabs/find/panel?q=%3Cscript%3Ex%3C/script%3E", ALEX)
    assert hostile.status == 200 and "&lt;script&gt;" in hostile.body and "<script>" not in hostile.body
    assert (await tab.get(f"/tabs/find/panel?q=x&chat={GROUP}", MEGAN)).status == 403


async def test_my_records_lists_connected_and_owned_with_their_chats(tab: Tab, graph: FakeGraph):  # noqa: F811
    await two_chats(tab, graph)
    body = (await tab.get("/tabs/my/panel", ALEX)).body
    assert body.index("Contoso Ltd") < body.index("Cannot sign in")  # most recently connected first
    assert "Printer outage" in body and "Escalation &lt;b&gt;7&lt;/b&gt;" in body
    assert "RE: Printer outage" in body  # owned, never connected
    for path in ("/tabs/my", "/tabs/chat", "/tabs/chat/config"):
        page = await tab.get(path)
        assert page.status == 200 and "records_tabs.js" in page.body
