"""The store contract on SQLite and on a real PostgreSQL server."""
from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from domain.model import ConversationRef, State
from domain.ports import Conflict
from domain.settings import Settings
from store.audit import SqlAuditLog
from store.connections import SqlConnectionStore
from store.db import open_database
from store.migrations import NOTES, STEPS, migrate
from store.settings_store import SqlSettingsStore

T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
async def db(database_url: str):
    database = await open_database(database_url)
    await migrate(database)
    yield database
    await database.close()


async def test_migrations_are_idempotent(db):
    """Running migrations again (a second replica starting) changes nothing."""
    assert await migrate(db) == len(STEPS)
    assert await migrate(db) == len(STEPS)


async def test_upgrade_drops_the_per_person_chat_membership(database_url: str):
    """An install that kept who was seen in which chat (schema 7) loses that table and its index on upgrade, on
    SQLite and PostgreSQL; the chat's name and what is needed to post there stay."""
    database = await open_database(database_url)
    try:
        assert await migrate(database, upto=7) == 7
        await database.execute("INSERT INTO conversations (tenant_id, chat_id, service_url, members_title) "
                               "VALUES ('t', '19:c@thread.v2', 'https://smba.example/', 'Alex and Megan')")
        await database.execute("INSERT INTO chat_members (tenant_id, chat_id, aad_object_id, seen_at) "
                               "VALUES ('t', '19:c@thread.v2', 'alex-entra-id', '2026-11-29T08:00:00+00:00')")
        assert await _relations(database) >= {"chat_members", "chat_members_by_person"}
        assert await migrate(database) == len(STEPS)
        assert not await _relations(database) & {"chat_members", "chat_members_by_person"}
        kept = await database.fetch("SELECT chat_id, members_title, bot_added_at FROM conversations")
        assert kept == [{"chat_id": "19:c@thread.v2", "members_title": "Alex and Megan", "bot_added_at": None}]
    finally:
        await database.close()


async def test_store_migrate_command_reports_the_upgrade(tmp_path: Path):
    """`python -m store migrate` on a database at schema 7 applies step 8 and says that it drops chat_members."""
    url = f"sqlite:///{tmp_path}/old.db"
    database = await open_database(url)
    await migrate(database, upto=7)
    await database.close()
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "store", "migrate", cwd=ROOT,
                                                env={**os.environ, "DATABASE_URL": url},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    assert "applied step 8: drops chat_members" in out.decode()
    assert f"schema at version {len(STEPS)} (sqlite)" in out.decode()
    database = await open_database(url)
    try:
        assert "chat_members" not in await _relations(database)
    finally:
        await database.close()


def test_every_schema_step_says_what_it_is_for():
    assert set(NOTES) == set(range(1, len(STEPS) + 1))


async def _relations(database) -> set[str]:
    """Table and index names in the database."""
    if database.dialect == "sqlite":
        rows = await database.fetch("SELECT name FROM sqlite_master WHERE type IN ('table', 'index')")
    else:
        rows = await database.fetch("SELECT relname AS name FROM pg_class c JOIN pg_namespace n "
                                    "ON n.oid = c.relnamespace WHERE n.nspname = 'public'")
    return {r["name"] for r in rows}


async def test_connect_is_idempotent_and_keeps_first_connector(db):
    """A second connect of the same pair returns the existing connection, not a new one."""
    store = SqlConnectionStore(db)
    first, created = await store.connect("t", "incident", "r1", "c1", "alex", T0)
    again, created_again = await store.connect("t", "incident", "r1", "c1", "megan", T0 + timedelta(seconds=1))
    assert created and not created_again
    assert again.id == first.id and again.connected_by == "alex"


async def test_concurrent_connects_create_one_row(db):
    """Twenty simultaneous connects of one pair leave exactly one active connection."""
    store = SqlConnectionStore(db)
    results = await asyncio.gather(*(store.connect("t", "incident", "r1", "c1", f"u{i}", T0) for i in range(20)))
    assert sum(created for _, created in results) == 1
    assert len(await store.for_record("t", "incident", "r1")) == 1


async def test_disconnect_keeps_history_and_reconnect_is_new(db):
    """DATA-01: disconnect is a state change; connecting again is a new connection by the new connector."""
    store = SqlConnectionStore(db)
    await store.connect("t", "incident", "r1", "c1", "alex", T0)
    gone = await store.disconnect("t", "incident", "r1", "c1", "megan", T0 + timedelta(minutes=1))
    assert gone and gone.state is State.DISCONNECTED and gone.disconnected_by == "megan"
    assert await store.disconnect("t", "incident", "r1", "c1", "megan", T0) is None
    again, created = await store.connect("t", "incident", "r1", "c1", "lynne", T0 + timedelta(minutes=2))
    assert created and again.connected_by == "lynne"
    history = await store.for_record("t", "incident", "r1", include_history=True)
    assert [c.state for c in history] == [State.DISCONNECTED, State.CONNECTED]
    assert await store.last_connector("t", "incident", "r1", "c1") == "lynne"


async def test_many_to_many_and_tenant_isolation(db):
    """DATA-02/CONN-03: a chat has several records, a record several chats; tenants never mix."""
    store = SqlConnectionStore(db)
    await store.connect("t", "incident", "r1", "c1", "a", T0)
    await store.connect("t", "account", "a1", "c1", "a", T0)
    await store.connect("t", "incident", "r1", "c2", "a", T0)
    await store.connect("other", "incident", "r1", "c3", "a", T0)
    assert {c.record_id for c in await store.for_chat("t", "c1")} == {"r1", "a1"}
    assert {c.chat_id for c in await store.for_record("t", "incident", "r1")} == {"c1", "c2"}
    await store.disconnect("t", "account", "a1", "c1", "a", T0)
    assert [c.record_id for c in await store.for_chat("t", "c1")] == ["r1"]


async def test_conversation_reference_and_bot_removal(db):
    """Only what is needed to post later is kept; a removed bot's conversation is not offered for posting."""
    store = SqlConnectionStore(db)
    ref = ConversationRef("https://smba.example/", "c1", "t", "28:bot")
    await store.save_conversation(ref, "Topic")
    assert await store.conversation("t", "c1") == ref
    await store.mark_bot_removed("t", "c1", T0)
    assert await store.conversation("t", "c1") is None
    await store.save_conversation(ref)
    assert await store.conversation("t", "c1") == ref


async def test_settings_etag_conflict(db):
    """A save with a stale ETag is refused; the first writer's change stays."""
    store = SqlSettingsStore(db)
    _, etag = await store.load()
    new_etag = await store.save(Settings(teams_chat_enabled=False), etag)
    with pytest.raises(Conflict):
        await store.save(Settings(timeline_sync=True), etag)
    fresh = SqlSettingsStore(db)
    loaded, loaded_etag = await fresh.load()
    assert loaded.teams_chat_enabled is False and loaded_etag == new_etag


async def test_audit_filters(db):
    """Audit events are listed newest first and filter by event and record."""
    audit = SqlAuditLog(db)
    await audit.append("connect", "t", "alex", "incident", "r1", "c1", T0)
    await audit.append("disconnect", "t", "megan", "incident", "r1", "c1", T0 + timedelta(minutes=1))
    await audit.append("connect", "t", "alex", "account", "a1", "c1", T0 + timedelta(minutes=2))
    rows = await audit.query({"record_type": "incident"})
    assert [r["event"] for r in rows] == ["disconnect", "connect"]
    since = (T0 + timedelta(minutes=1)).isoformat()
    assert [r["user_id"] for r in await audit.query({"event": "connect", "since": since})] == ["alex"]
