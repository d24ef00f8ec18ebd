"""Committed work wakes delivery at once, also on another replica: on PostgreSQL through LISTEN/NOTIFY, so these
replicas' fallback poll is set to 300 s and a card arriving within 10 s can only have come from a wake-up."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from config import Config, ConfigError
from tests.conftest import PG_ADMIN_URL, _drop_pg_database, _fresh_pg_database
from tests.fake_connector import FakeConnector
from tests.notify_helpers import Service, directory_with_cases, eventually, notify_config, wait_cards, webhook_body

CHAT = "19:wakeup@thread.v2"
SLOW_POLL = 300.0
WITHIN = 10.0


async def _replicas(url: str, tmp_path: Path, connector: FakeConnector, http: aiohttp.ClientSession
                    ) -> tuple[Service, Service, list[tuple[str, str]]]:
    """`intake` accepts webhooks and commands but delivers nothing; `worker` delivers and polls every 300 s."""
    directory, cases = directory_with_cases(tmp_path, 3)
    source = f"local:{directory}"
    worker = await Service.start(notify_config(url, record_source=source, outbox_poll=SLOW_POLL), connector, http)
    intake = await Service.start(notify_config(url, record_source=source, outbox_worker=False,
                                               outbox_poll=SLOW_POLL), connector, http)
    return intake, worker, cases


async def test_work_committed_on_one_replica_wakes_the_worker_of_another(tmp_path: Path, connector: FakeConnector,
                                                                         http: aiohttp.ClientSession):
    url = await _fresh_pg_database()
    intake, worker, cases = await _replicas(url, tmp_path, connector, http)
    try:
        for _, number in cases:
            await intake.connect(CHAT, number)
        status, answer = await intake.webhook(webhook_body(cases[0][0]))
        assert (status, answer["status"]) == (200, "accepted")
        assert len(await wait_cards(connector, CHAT, 1, within=WITHIN)) == 1

        # The LISTEN connection is cut (a database restart, a proxy timeout): the replica reconnects and listens
        # again, so the next change still arrives long before the poll would find it.
        admin = await asyncpg.connect(url)
        try:
            cut = await admin.fetchval("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = current_database() AND query LIKE 'LISTEN%'")
        finally:
            await admin.close()
        assert cut == 2  # each replica listens once (the intake-only one for saved settings only)
        status, answer = await intake.webhook(webhook_body(cases[1][0]))
        assert (status, answer["status"]) == (200, "accepted")
        assert len(await wait_cards(connector, CHAT, 2, within=WITHIN)) == 2
    finally:
        await intake.stop()
        await worker.stop()
        await _drop_pg_database(url)
    assert PG_ADMIN_URL


async def test_settings_saved_on_one_replica_apply_on_another_at_once(tmp_path: Path, connector: FakeConnector,
                                                                      http: aiohttp.ClientSession):
    """Settings are cached (on PostgreSQL for up to 30 s); a save on one replica is announced by NOTIFY, so the
    other refuses the next command at once after an admin turns Teams chats off."""
    url = await _fresh_pg_database()
    intake, worker, _ = await _replicas(url, tmp_path, connector, http)
    chat = "19:settings@thread.v2"
    try:
        status, _ = await worker.bot.say("records", conv=chat)  # the worker replica now has the settings cached
        assert status == 200 and connector.cards(chat)
        await intake.save_settings(lambda s: replace(s, teams_chat_enabled=False))

        async def refused() -> bool:
            await worker.bot.say("records", conv=chat)
            return any("turned off by your administrator" in t for t in connector.texts(chat))
        assert await eventually(refused, within=WITHIN)
    finally:
        await intake.stop()
        await worker.stop()
        await _drop_pg_database(url)


async def test_sqlite_replicas_share_work_through_the_fallback_poll(tmp_path: Path, connector: FakeConnector,
                                                                    http: aiohttp.ClientSession):
    """SQLite has no NOTIFY: a replica on the same file finds the work on its (here short) poll."""
    url = f"sqlite:///{tmp_path}/shared.db"
    directory, cases = directory_with_cases(tmp_path, 1)
    source = f"local:{directory}"
    worker = await Service.start(notify_config(url, record_source=source, outbox_poll=0.2), connector, http)
    intake = await Service.start(notify_config(url, record_source=source, outbox_worker=False), connector, http)
    try:
        await intake.connect(CHAT, cases[0][1])
        status, answer = await intake.webhook(webhook_body(cases[0][0]))
        assert (status, answer["status"]) == (200, "accepted")
        assert len(await wait_cards(connector, CHAT, 1, within=WITHIN)) == 1
    finally:
        await intake.stop()
        await worker.stop()


def test_outbox_settings_are_checked() -> None:
    assert Config.from_env({}).outbox_poll_seconds() == 1.0
    assert Config.from_env({"DATABASE_URL": "postgresql://u@h/db"}).outbox_poll_seconds() == 10.0
    cfg = Config.from_env({"OUTBOX_POLL_SECONDS": "300", "OUTBOX_WORKER": "OFF"})
    assert (cfg.outbox_poll_seconds(), cfg.outbox_worker) == (300.0, False)
    for name, value in (("OUTBOX_POLL_SECONDS", "soon"), ("OUTBOX_POLL_SECONDS", "-1"), ("OUTBOX_WORKER", "no")):
        with pytest.raises(ConfigError, match=name):
            Config.from_env({name: value})
