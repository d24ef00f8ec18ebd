"""A chat's active connections, cached per process: every `records` command and card button, and every message of a
timeline-synced chat, reads them, and they change only on connect, disconnect, a timeline link or a chat rename.

Correct across processes, or not used:
- every write of `connections` (store/connections.py, store/chat_directory.py) drops the chat here once committed,
  and on PostgreSQL also NOTIFYs it in its transaction, so every replica drops it when the write commits;
- PostgreSQL: entries are served only while this process LISTENs (store/wakeups.py); a lost LISTEN connection
  turns the cache off until it is back, and then empties it (what was missed is unknown);
- SQLite: another process on the same file (a second replica) is seen by `PRAGMA data_version`, which changes when
  any other connection commits; the cache is then emptied. The pragma is asked at most once a millisecond (it takes
  the file's WAL read lock: ~10 % of a card-button turn when asked every turn), so another process's commit is
  seen by every read that starts 1 ms or more after it. This process's own writes use its one connection.
A read records the generation before it queries and keeps its answer only if no drop happened meanwhile, so a read
racing a write cannot put the old rows back. One cache per Database object (`for_database`): every store on the
same connection shares it."""
from __future__ import annotations

import json
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

from domain.model import Connection

CONNECTIONS_CHANNEL = "connected_chats_connections"
MAX_CHATS = 4096  # ~1-2 KB each; the oldest entry goes first
Key = tuple[str, str]  # (tenant_id, chat_id)
CHECK_EVERY = 0.001  # seconds between two PRAGMA data_version on SQLite


class ChatConnectionsCache:
    def __init__(self, fresh: Callable[[], bool], max_chats: int = MAX_CHATS) -> None:
        """`fresh()`: whether this process is sure to have heard of every commit made elsewhere (it may empty the
        cache first when it learns of one)."""
        self._fresh = fresh
        self._max = max_chats
        self._rows: dict[Key, tuple[Connection, ...]] = {}
        self.generation = 0

    def get(self, key: Key) -> tuple[Connection, ...] | None:
        return self._rows.get(key) if self._fresh() else None

    def put(self, key: Key, rows: Sequence[Connection], generation: int) -> None:
        """Keep rows read when `generation` was current, unless something was dropped since."""
        if generation != self.generation or not self._fresh():
            return
        if len(self._rows) >= self._max:
            del self._rows[next(iter(self._rows))]
        self._rows[key] = tuple(rows)

    def forget(self, tenant_id: str, chat_id: str) -> None:
        self.generation += 1
        self._rows.pop((tenant_id, chat_id), None)

    def forget_all(self) -> None:
        self.generation += 1
        self._rows.clear()

    def notified(self, payload: str | None) -> None:
        """A NOTIFY from a replica's commit (payload: [tenant, chat]); None: anything may have changed."""
        try:
            tenant_id, chat_id = json.loads(payload) if payload else (None, None)
        except (ValueError, TypeError):
            tenant_id = chat_id = None
        if isinstance(tenant_id, str) and isinstance(chat_id, str):
            self.forget(tenant_id, chat_id)
        else:
            self.forget_all()


def notify_payload(tenant_id: str, chat_id: str) -> str:
    return json.dumps([tenant_id, chat_id])


class _Listening:
    """PostgreSQL: fresh only while the LISTEN connection is up (set by app.py through `listen_with`)."""

    def __init__(self) -> None:
        self.source: Callable[[], bool] = lambda: False

    def __call__(self) -> bool:
        return self.source()


class _DataVersion:
    """SQLite: fresh after emptying the cache whenever another connection committed to the file."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self._seen: int | None = None
        self._checked = -CHECK_EVERY
        self.cache: ChatConnectionsCache | None = None

    def __call__(self) -> bool:
        now = time.monotonic()
        if now - self._checked < CHECK_EVERY:
            return True
        self._checked = now
        version = self._db.data_version()
        if version != self._seen:
            self._seen = version
            if self.cache is not None:
                self.cache.forget_all()
        return True


_CACHES: weakref.WeakKeyDictionary[Any, ChatConnectionsCache] = weakref.WeakKeyDictionary()


def for_database(db: Any) -> ChatConnectionsCache:
    """The one cache of this Database object (its connections are what the cache stands for)."""
    cache = _CACHES.get(db)
    if cache is None:
        if hasattr(db, "data_version"):
            version = _DataVersion(db)
            cache = version.cache = ChatConnectionsCache(version)
        else:  # PostgreSQL (fresh once listen_with is called), or a wrapper that cannot tell: never served
            cache = ChatConnectionsCache(_Listening())
        _CACHES[db] = cache
    return cache


def listen_with(db: Any, listening: Callable[[], bool]) -> Callable[[str | None], None]:
    """PostgreSQL: serve the cache while `listening()`; returns the handler for CONNECTIONS_CHANNEL."""
    cache = for_database(db)
    fresh = cache._fresh
    if isinstance(fresh, _Listening):
        fresh.source = listening
    return cache.notified
