"""Versioned schema. Runs on start; on PostgreSQL under an advisory lock so replicas starting together agree."""
from __future__ import annotations

from typing import Any

# Each step runs once, in order. {id} is the dialect's auto-increment key column. A step written as a dict gives
# one script per dialect (for features only one database has, such as full-text search).
STEPS: list[str | dict[str, str]] = [
    """
    CREATE TABLE connections (
        id {id}, tenant_id TEXT NOT NULL, record_type TEXT NOT NULL, record_id TEXT NOT NULL,
        chat_id TEXT NOT NULL, state TEXT NOT NULL, connected_by TEXT NOT NULL, connected_at TEXT NOT NULL,
        disconnected_by TEXT, disconnected_at TEXT, chat_title TEXT NOT NULL DEFAULT '',
        synced INTEGER NOT NULL DEFAULT 0);
    CREATE UNIQUE INDEX connections_active ON connections (tenant_id, record_type, record_id, chat_id)
        WHERE state = 'connected';
    CREATE INDEX connections_by_record ON connections (tenant_id, record_type, record_id);
    CREATE INDEX connections_by_chat ON connections (tenant_id, chat_id);
    CREATE TABLE conversations (
        tenant_id TEXT NOT NULL, chat_id TEXT NOT NULL, service_url TEXT NOT NULL, bot_id TEXT NOT NULL DEFAULT '',
        title TEXT NOT NULL DEFAULT '', bot_removed_at TEXT, PRIMARY KEY (tenant_id, chat_id));
    CREATE TABLE settings (id INTEGER PRIMARY KEY, body TEXT NOT NULL, etag TEXT NOT NULL, updated_at TEXT NOT NULL);
    CREATE TABLE audit (
        id {id}, at TEXT NOT NULL, event TEXT NOT NULL, tenant_id TEXT NOT NULL, user_id TEXT NOT NULL,
        record_type TEXT NOT NULL, record_id TEXT NOT NULL, chat_id TEXT NOT NULL, detail TEXT NOT NULL DEFAULT '');
    CREATE INDEX audit_by_time ON audit (at);
    CREATE INDEX audit_by_record ON audit (record_type, record_id);
    CREATE TABLE inbox (dedupe_key TEXT PRIMARY KEY, accepted_at TEXT NOT NULL);
    CREATE TABLE outbox (
        id {id}, dedupe_key TEXT NOT NULL UNIQUE, tenant_id TEXT NOT NULL, chat_id TEXT NOT NULL,
        record_type TEXT NOT NULL, record_id TEXT NOT NULL, payload TEXT NOT NULL, state TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, not_before TEXT NOT NULL, claimed_by TEXT, claimed_until TEXT,
        last_error TEXT NOT NULL DEFAULT '', created_at TEXT NOT NULL, sent_at TEXT);
    CREATE INDEX outbox_due ON outbox (state, not_before);
    CREATE INDEX outbox_by_chat ON outbox (chat_id, sent_at);
    """,
    # A Dataverse webhook names a record, not a Teams tenant: find its chats in every tenant with one index probe.
    """
    CREATE INDEX connections_active_by_record ON connections (record_type, record_id) WHERE state = 'connected';
    """,
    # Issue 14: the local directory's timeline (its equivalent of Dataverse's chat activities), never message text.
    """
    CREATE TABLE local_timeline (
        id {id}, record_type TEXT NOT NULL, record_id TEXT NOT NULL, chat_id TEXT NOT NULL,
        linked_by TEXT NOT NULL, linked_on TEXT NOT NULL, unlinked_on TEXT,
        last_sender TEXT NOT NULL DEFAULT '', last_message_on TEXT);
    CREATE INDEX local_timeline_by_record ON local_timeline (record_type, record_id, chat_id);
    """,
    # AI-suggested contacts (store/similar.py): resolved cases and their full-text index, and backfill progress.
    {
        "sqlite": """
        CREATE TABLE similar_cases (
            id {id}, record_type TEXT NOT NULL, record_id TEXT NOT NULL, resolved_by TEXT NOT NULL,
            resolved_at TEXT, created_at TEXT, indexed_at TEXT NOT NULL, UNIQUE (record_type, record_id));
        CREATE VIRTUAL TABLE similar_text USING fts5(body, tokenize = 'porter unicode61 remove_diacritics 2');
        CREATE VIRTUAL TABLE similar_vocab USING fts5vocab(similar_text, 'row');
        CREATE TABLE similar_progress (
            name TEXT PRIMARY KEY, cursor TEXT, done INTEGER NOT NULL DEFAULT 0, indexed INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL);
        """,
        "postgresql": """
        CREATE TABLE similar_cases (
            id {id}, record_type TEXT NOT NULL, record_id TEXT NOT NULL, resolved_by TEXT NOT NULL,
            resolved_at TEXT, created_at TEXT, indexed_at TEXT NOT NULL, body tsvector NOT NULL,
            UNIQUE (record_type, record_id));
        CREATE INDEX similar_cases_body ON similar_cases USING GIN (body);
        CREATE TABLE similar_terms (record_type TEXT NOT NULL, lexeme TEXT NOT NULL, docs INTEGER NOT NULL,
            PRIMARY KEY (record_type, lexeme));
        CREATE TABLE similar_progress (
            name TEXT PRIMARY KEY, cursor TEXT, done INTEGER NOT NULL DEFAULT 0, indexed INTEGER NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL);
        """,
    },
    # Replicas on one PostgreSQL share each tenant's send pace: the next free send moment per tenant (epoch s).
    """
    CREATE TABLE tenant_pace (tenant_id TEXT PRIMARY KEY, next_at DOUBLE PRECISION NOT NULL);
    """,
    # Chat names for untitled chats (from their members) and who was seen in which chat (never message text):
    # members see their chats as theirs, and the record page offers an agent's recent chats by name.
    """
    ALTER TABLE conversations ADD COLUMN members_title TEXT NOT NULL DEFAULT '';
    CREATE TABLE chat_members (
        tenant_id TEXT NOT NULL, chat_id TEXT NOT NULL, aad_object_id TEXT NOT NULL, seen_at TEXT NOT NULL,
        PRIMARY KEY (tenant_id, chat_id, aad_object_id));
    CREATE INDEX chat_members_by_person ON chat_members (tenant_id, aad_object_id, seen_at);
    CREATE INDEX connections_by_connector ON connections (tenant_id, connected_by, connected_at);
    """,
    # Similar cases on PostgreSQL: a query that matches a large share of the index ranks the most recent matches
    # (store/similar.py); this index lets the planner AND a recency range with the full-text GIN index.
    {"sqlite": "", "postgresql": "CREATE INDEX similar_cases_recent ON similar_cases (record_type, resolved_at);"},
    # The service keeps no per-person chat membership (the data statement at the top of README.md): who is in a chat
    # is asked of Teams when needed (domain/membership.py), so the table of who was seen where goes, with its index.
    # When the bot was added to a chat (about the bot, like bot_removed_at) orders its chats for "your recent chats".
    """
    DROP INDEX IF EXISTS chat_members_by_person;
    DROP TABLE IF EXISTS chat_members;
    ALTER TABLE conversations ADD COLUMN bot_added_at TEXT;
    """,
    # A Bot Connector 429's Retry-After, honoured by every replica (store/send_blocks.py): the chat (or, with
    # chat_id '', the whole tenant) gets nothing posted until `until`; `since` is when it was last throttled.
    """
    CREATE TABLE send_blocks (tenant_id TEXT NOT NULL, chat_id TEXT NOT NULL, since TEXT NOT NULL,
        until TEXT NOT NULL, PRIMARY KEY (tenant_id, chat_id));
    """,
]

# What each step is for, as `python -m store migrate` reports it (step number = schema version).
NOTES = {
    1: "connections, conversation references, settings, audit, inbox and outbox",
    2: "index of active connections by record across tenants (webhooks)",
    3: "the local directory's record timeline",
    4: "similar cases and their full-text index",
    5: "shared per-tenant send pace",
    6: "chat names from members (and, until step 8, who was seen in which chat)",
    7: "recency index for similar cases (PostgreSQL)",
    8: "drops chat_members: who is in which chat is asked of Teams, never stored; notes when the bot was added",
    9: "send blocks: a Bot Connector 429's Retry-After shared by every replica",
}
_ID = {"sqlite": "INTEGER PRIMARY KEY AUTOINCREMENT", "postgresql": "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"}
_LOCK_KEY = 7_202_611  # arbitrary, fixed: the advisory lock that serialises migrations across replicas


async def migrate(db: Any, upto: int | None = None) -> int:
    """Apply missing steps (up to version `upto`, to stage an upgrade); return the schema version."""
    if db.dialect == "postgresql":
        async with db.transaction() as tx:
            await tx.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
            return await _apply(tx, db.dialect, upto)
    async with db.transaction() as tx:
        return await _apply(tx, db.dialect, upto)


async def version(db: Any) -> int:
    """The schema version the database is at (0: none yet)."""
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    row = await db.fetchrow("SELECT MAX(version) AS v FROM schema_version")
    return int(row["v"]) if row and row["v"] is not None else 0


async def _apply(tx: Any, dialect: str, upto: int | None = None) -> int:
    current = await version(tx)
    target = len(STEPS) if upto is None else max(current, min(upto, len(STEPS)))
    for number, step in enumerate(STEPS[current:target], start=current + 1):
        script = step[dialect] if isinstance(step, dict) else step
        for statement in script.format(id=_ID[dialect]).split(";"):
            if statement.strip():
                await tx.execute(statement)
        await tx.execute("INSERT INTO schema_version (version) VALUES ($1)", number)
    return target
