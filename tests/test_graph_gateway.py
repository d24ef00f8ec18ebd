"""The Graph gateway against the fake Graph server (tests/fake_graph.py): request shapes, paging, batching,
license filter, throttling within the time budget, and user-safe errors."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from domain.ports import GatewayError
from graph import GraphError, budget
from graph.gateway import GraphGateway
from tests.fake_graph import FakeGraph

ROOT = Path(__file__).resolve().parent.parent
ALICE = "aaaaaaaa-0000-4000-8000-000000000001"
BOB = "bbbbbbbb-0000-4000-8000-000000000002"
CAROL = "cccccccc-0000-4000-8000-000000000003"
CHAT = "19:0123456789abcdef0123456789abcdef@thread.v2"
MANIFEST_ID = "6f1f6a2e-1111-4222-8333-944455556666"


def uid(n: int) -> str:
    return f"00000000-0000-4000-8000-{n:012d}"


@pytest.fixture
async def graph() -> AsyncIterator[FakeGraph]:
    async with FakeGraph() as g:
        yield g


async def gateway(g: FakeGraph, *, catalog_id: str | None = "catalog-app-1", slash: str = "",
                  **kw: object) -> GraphGateway:
    gw = GraphGateway(g.url + slash, "none", catalog_id, MANIFEST_ID, **kw)  # type: ignore[arg-type]
    await gw.start()
    return gw


async def test_add_member_sends_full_history_and_owner_role(graph: FakeGraph) -> None:
    """Joining adds the user through POST /chats/{id}/members with all history visible (0001-01-01)."""
    graph.add_chat(CHAT, members=[ALICE, BOB])
    gw = await gateway(graph)
    await gw.add_member(CHAT, CAROL)
    [call] = graph.calls("POST", "/chats/.*/members")
    assert call.path == f"/chats/{CHAT}/members"
    assert call.json["visibleHistoryStartDateTime"] == "0001-01-01T00:00:00Z"
    assert call.json["roles"] == ["owner"]
    assert call.json["@odata.type"] == "#microsoft.graph.aadUserConversationMember"
    assert call.json["user@odata.bind"] == f"https://graph.microsoft.com/v1.0/users('{CAROL}')"
    assert await gw.is_member(CHAT, CAROL)
    await gw.close()


async def test_create_chat_body_with_topic(graph: FakeGraph) -> None:
    """POST /chats: chatType group, every member an owner bound to Graph's own user URL, the topic on one line."""
    gw = await gateway(graph)
    chat_id = await gw.create_chat("  Case  CAS-01001:\n printer on fire ", [ALICE, BOB, CAROL, BOB])
    [call] = graph.calls("POST", "/chats")
    assert chat_id in graph.chats and chat_id.startswith("19:")
    assert call.json["chatType"] == "group"
    assert call.json["topic"] == "Case CAS-01001: printer on fire"
    assert [m["roles"] for m in call.json["members"]] == [["owner"]] * 3  # BOB only once
    assert [m["user@odata.bind"] for m in call.json["members"]] == [
        f"https://graph.microsoft.com/v1.0/users('{i}')" for i in (ALICE, BOB, CAROL)]
    await gw.close()


async def test_create_chat_without_topic_sends_none(graph: FakeGraph) -> None:
    """No topic (None or blank) means no "topic" property at all, so Teams names the chat after its members."""
    gw = await gateway(graph)
    await gw.create_chat(None, [ALICE, BOB])
    await gw.create_chat("   ", [ALICE, BOB])
    assert all("topic" not in c.json for c in graph.calls("POST", "/chats"))
    await gw.close()


async def test_create_chat_rejects_too_many_or_too_few_people(graph: FakeGraph) -> None:
    """Teams' limit of 250 people (and at least two) is checked before calling Graph."""
    gw = await gateway(graph)
    with pytest.raises(GatewayError, match="at most 250"):
        await gw.create_chat("big", [uid(i) for i in range(251)])
    with pytest.raises(GatewayError, match="at least two"):
        await gw.create_chat("alone", [ALICE, ALICE.upper()])
    with pytest.raises(GatewayError, match="not a Microsoft Entra user id"):
        await gw.create_chat("bad", [ALICE, "x')/../users('y"])
    assert graph.requests == []
    await gw.create_chat("full", [uid(i) for i in range(250)])
    assert len(graph.calls("POST", "/chats")) == 1
    await gw.close()


async def test_install_app_looks_up_catalog_once(graph: FakeGraph) -> None:
    """Without TEAMS_APP_CATALOG_ID the app is found by its manifest id (externalId) once, then cached."""
    graph.add_catalog_app(MANIFEST_ID, "catalog-77")
    graph.add_chat(CHAT, members=[ALICE, BOB])
    graph.add_chat("19:second@thread.v2", members=[ALICE, BOB])
    gw = await gateway(graph, catalog_id=None)
    await asyncio.gather(gw.install_app(CHAT), gw.install_app("19:second@thread.v2"))
    await gw.install_app(CHAT)  # already installed (409): counts as done
    [lookup] = graph.calls("GET", "/appCatalogs/teamsApps")
    assert lookup.query["$filter"] == f"externalId eq '{MANIFEST_ID}'"
    installs = graph.calls("POST", "/chats/.*/installedApps")
    assert [c.json for c in installs] == [
        {"teamsApp@odata.bind": "https://graph.microsoft.com/v1.0/appCatalogs/teamsApps/catalog-77"}] * 3
    assert graph.chats[CHAT].installed == ["catalog-77"]
    await gw.close()


async def test_install_app_with_configured_catalog_id_and_rsc_consent(graph: FakeGraph) -> None:
    """TEAMS_APP_CATALOG_ID skips the lookup; the manifest's chat RSC permissions are consented on install."""
    graph.add_chat(CHAT, members=[ALICE, BOB])
    gw = await gateway(graph, rsc_permissions=[{"name": "ChatMessage.Read.Chat", "type": "Application"}])
    await gw.install_app(CHAT)
    assert graph.calls("GET", "/appCatalogs/teamsApps") == []
    [install] = graph.calls("POST", "/chats/.*/installedApps")
    assert install.json["consentedPermissionSet"] == {"resourceSpecificPermissions": [
        {"permissionValue": "ChatMessage.Read.Chat", "permissionType": "application"}]}
    await gw.close()


async def test_install_app_missing_from_catalog(graph: FakeGraph) -> None:
    """An app nobody uploaded to the tenant catalog gives a clear message, not a crash."""
    graph.add_chat(CHAT, members=[ALICE, BOB])
    gw = await gateway(graph, catalog_id=None)
    with pytest.raises(GatewayError, match="not in your organization's Teams app catalog"):
        await gw.install_app(CHAT)
    assert graph.calls("POST", "/chats/.*/installedApps") == []
    await gw.close()


async def test_is_member_follows_next_links(graph: FakeGraph) -> None:
    """Members are read page by page (@odata.nextLink) until the user is found or the pages end."""
    graph.page_size = 2
    graph.add_chat(CHAT, members=[uid(1), uid(2), uid(3), uid(4), CAROL])
    gw = await gateway(graph)
    assert await gw.is_member(CHAT, CAROL.upper())
    assert len(graph.calls("GET", "/chats/.*/members")) == 3
    assert graph.calls("GET", "/chats/.*/members")[2].query == {"$skiptoken": "4"}
    graph.requests.clear()
    assert not await gw.is_member(CHAT, ALICE)
    assert len(graph.calls("GET", "/chats/.*/members")) == 3
    await gw.close()


async def test_chat_title(graph: FakeGraph) -> None:
    """The chat's topic, or "" for an untitled chat."""
    graph.add_chat(CHAT, members=[ALICE, BOB], topic="Escalation 7")
    graph.add_chat("19:untitled@thread.v2", members=[ALICE, BOB])
    gw = await gateway(graph)
    assert await gw.chat_title(CHAT) == "Escalation 7"
    assert await gw.chat_title("19:untitled@thread.v2") == ""
    await gw.close()


async def test_presence_batches_of_650(graph: FakeGraph) -> None:
    """1400 ids take three getPresencesByUserId calls (650, 650, 100) and every id gets an availability."""
    ids = [uid(i) for i in range(1400)]
    graph.set_user(ids[0], presence="Busy")
    graph.set_user(ids[1399], presence="Away")
    gw = await gateway(graph)
    result = await gw.presence(ids + ids[:10])
    sizes = sorted(len(c.json["ids"]) for c in graph.calls("POST", "/communications/getPresencesByUserId"))
    assert sizes == [100, 650, 650]
    assert len(result) == 1400
    assert result[ids[0]] == "Busy" and result[ids[1399]] == "Away" and result[ids[5]] == "PresenceUnknown"
    assert await gw.presence([]) == {}
    await gw.close()


async def test_licensed_keeps_only_teams_users(graph: FakeGraph) -> None:
    """Only users with an enabled TeamspaceAPI plan count; ids are asked 15 at a time with $select."""
    others = [uid(i) for i in range(20)]
    graph.set_user(ALICE, licensed=True)
    graph.set_user(BOB, licensed=False)
    for i in others[::2]:
        graph.set_user(i, licensed=True)
    gw = await gateway(graph)
    result = await gw.licensed([ALICE, BOB, CAROL, *others])
    assert result == {ALICE, *others[::2]}
    calls = graph.calls("GET", "/users")
    assert len(calls) == 2 and all(c.query["$select"] == "id,assignedPlans" for c in calls)
    assert sorted(c.query["$filter"].count("'") // 2 for c in calls) == [8, 15]
    await gw.close()


async def test_throttled_call_is_retried_after_retry_after(graph: FakeGraph) -> None:
    """A 429 with Retry-After: 1 is retried after about a second, and the call then succeeds."""
    gw = await gateway(graph)
    graph.throttle(1, retry_after=1)
    began = time.monotonic()
    chat_id = await gw.create_chat("t", [ALICE, BOB])
    assert time.monotonic() - began >= 0.95
    assert chat_id in graph.chats
    assert len(graph.calls("POST", "/chats")) == 2
    await gw.close()


async def test_persistent_throttling_gives_up_within_budget(graph: FakeGraph) -> None:
    """Attempts are bounded (3) and the caller gets a readable 'busy' error well within the budget."""
    gw = await gateway(graph, budget=4.0, attempts=3)
    graph.throttle(10, retry_after=1)
    began = time.monotonic()
    with pytest.raises(GraphError) as err:
        await gw.presence([ALICE])
    assert time.monotonic() - began < 4.0
    assert len(graph.requests) == 3
    assert err.value.status == 429 and err.value.retry_after == 1
    assert str(err.value) == ("Microsoft Graph is busy and could not read presence in time "
                              "(429 Too Many Requests). Try again in 1 second.")
    await gw.close()


async def test_retry_after_beyond_budget_is_not_waited_for(graph: FakeGraph) -> None:
    """A Retry-After longer than the budget left is not slept through: the caller hears back at once."""
    graph.add_chat(CHAT, members=[ALICE])
    gw = await gateway(graph, budget=4.0)
    graph.throttle(1, retry_after=30, status=503)
    began = time.monotonic()
    with pytest.raises(GraphError, match="Try again in 30 seconds") as err:
        await gw.add_member(CHAT, BOB)
    assert time.monotonic() - began < 1.0
    assert err.value.status == 503 and len(graph.requests) == 1
    await gw.close()


async def test_budget_block_allows_longer_waits(graph: FakeGraph) -> None:
    """Background work can give itself a larger budget, and then a longer Retry-After is honoured."""
    gw = await gateway(graph, budget=1.5)
    graph.throttle(1, retry_after=2)
    with pytest.raises(GraphError):
        await gw.presence([ALICE])
    graph.throttle(1, retry_after=2)
    with budget(6.0):
        assert await gw.presence([ALICE]) == {ALICE: "PresenceUnknown"}
    await gw.close()


async def test_gateway_timeout_on_post_is_not_retried_but_on_get_is(graph: FakeGraph) -> None:
    """A 504 on POST may have created the chat, so it is not repeated; a 504 on a read is retried."""
    graph.add_chat(CHAT, members=[ALICE], topic="x")
    gw = await gateway(graph)
    graph.throttle(1, retry_after=None, status=504)
    with pytest.raises(GraphError, match="504 Gateway Timeout"):
        await gw.create_chat("t", [ALICE, BOB])
    assert len(graph.calls("POST", "/chats")) == 1
    graph.throttle(1, retry_after=None, status=504)
    assert await gw.chat_title(CHAT) == "x"
    assert len(graph.calls("GET", "/chats/.*")) == 2
    await gw.close()


async def test_refusal_is_a_readable_message(graph: FakeGraph) -> None:
    """A 403 becomes a message fit for a user: what failed, the status, the permission to grant; no Graph text."""
    graph.add_chat(CHAT, members=[ALICE])
    gw = await gateway(graph)
    graph.fail(1, status=403)
    with pytest.raises(GatewayError) as err:
        await gw.add_member(CHAT, BOB)
    message = str(err.value)
    assert message.startswith("Microsoft Graph refused to add you to the chat (403 Forbidden).")
    assert "ChatMember.ReadWrite.All" in message
    assert "Traceback" not in message and "Missing role" not in message
    await gw.close()


async def test_slow_graph_times_out_within_budget(graph: FakeGraph) -> None:
    """When Graph answers too slowly the call ends at the budget with a clear message."""
    gw = await gateway(graph, budget=0.5)
    graph.delay = 2.0
    began = time.monotonic()
    with pytest.raises(GatewayError, match="did not answer in time"):
        await gw.chat_title(CHAT)
    assert time.monotonic() - began < 1.0
    await gw.close()


async def test_unreachable_graph(graph: FakeGraph) -> None:
    """Nothing listening at GRAPH_BASE_URL: a clear message, not a connection traceback."""
    gw = GraphGateway("http://127.0.0.1:9/v1.0", "none", "x", None)
    with pytest.raises(GatewayError, match="could not be reached"):
        await gw.chat_title(CHAT)
    await gw.close()


async def test_auth_none_sends_no_authorization_header(graph: FakeGraph) -> None:
    """GRAPH_AUTH=none (local emulators only) sends no token at all."""
    graph.add_chat(CHAT, members=[ALICE])
    gw = await gateway(graph)
    await gw.is_member(CHAT, ALICE)
    await gw.presence([ALICE])
    await gw.create_chat(None, [ALICE, BOB])
    assert len(graph.requests) == 3
    assert all("authorization" not in r.headers for r in graph.requests)
    await gw.close()


async def test_trailing_slash_is_stripped(graph: FakeGraph) -> None:
    """GRAPH_BASE_URL with a trailing slash still yields /v1.0/chats, not /v1.0//chats."""
    gw = await gateway(graph, slash="/")
    assert gw.base_url == graph.url
    graph.add_chat(CHAT, members=[ALICE], topic="t")
    assert await gw.chat_title(CHAT) == "t"
    assert [r.path for r in graph.requests] == [f"/chats/{CHAT}"]
    await gw.close()


def test_configuration_errors_are_clear() -> None:
    """A wrong GRAPH_AUTH or GRAPH_BASE_URL fails at start-up with a message naming the setting."""
    with pytest.raises(ValueError, match="GRAPH_AUTH"):
        GraphGateway("https://graph.microsoft.com/v1.0", "token", None, None)
    with pytest.raises(ValueError, match="GRAPH_BASE_URL"):
        GraphGateway("graph.microsoft.com/v1.0", "none", None, None)
    with pytest.raises(ValueError, match="https"):
        GraphGateway("http://graph.example.com/v1.0", "azure", None, None)
    assert GraphGateway("", "none", None, None).base_url == "https://graph.microsoft.com/v1.0"


def test_graph_loads_no_sdk() -> None:
    """Graph is plain HTTP: starting the gateway and calling Graph import no msgraph-sdk or kiota module (their
    ~1000 model classes cost 55 MB and a 1.1-1.4 s first call), and nothing needs warming up."""
    script = (
        "import asyncio, json, sys\n"
        "from graph.gateway import GraphGateway\n"
        "async def main():\n"
        "    gw = GraphGateway('http://127.0.0.1:9/v1.0', 'none', None, None)\n"
        "    await gw.start()\n"
        "    try:\n"
        "        await gw.chat_title('19:x@thread.v2')\n"
        "    except Exception as e:\n"
        "        print(type(e).__name__)\n"
        "    await gw.close()\n"
        "asyncio.run(main())\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('msgraph', 'msgraph_core', "
        "'kiota_abstractions', 'kiota_http'))))\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    lines = out.stdout.strip().splitlines()
    assert lines[0] == "GraphError" and json.loads(lines[1]) == [], out.stdout + out.stderr
