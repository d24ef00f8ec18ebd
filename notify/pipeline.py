"""The running notification pipeline: one outbox, its delivery worker, and the notifier that plans change events into
it. app.py starts it with the other long-lived objects; the webhook intake and the `set` command submit to it."""
from __future__ import annotations

from dataclasses import dataclass

from domain.ports import Messenger, Outbox, RecordSource, SettingsStore
from notify.notifier import Notifier
from notify.worker import DeliveryWorker
from store.connections import SqlConnectionStore
from store.wakeups import PgWakeups


@dataclass
class Notifications:
    notifier: Notifier
    worker: DeliveryWorker
    outbox: Outbox
    wakeups: PgWakeups | None = None

    async def stop(self) -> None:
        if self.wakeups:
            await self.wakeups.close()
        await self.worker.stop()


async def start(outbox: Outbox, records: RecordSource, connections: SqlConnectionStore, settings: SettingsStore,
                messenger: Messenger, allowed_tenants: frozenset[str], *, database_url: str, poll: float,
                deliver: bool = True) -> Notifications:
    """Starts the delivery worker (unless `deliver` is off: a replica that only accepts work) and, on PostgreSQL,
    its LISTEN for work other replicas commit; stop both with `await notifications.stop()`."""
    worker = DeliveryWorker(outbox, connections, messenger, poll=poll)
    notifier = Notifier(records, connections, settings, outbox, allowed_tenants, worker.wake)
    if not deliver:
        return Notifications(notifier, worker, outbox)
    wakeups = None
    if database_url.startswith(("postgresql:", "postgres:")):
        wakeups = PgWakeups(database_url, worker.wake)
        await wakeups.start()
    worker.start()
    return Notifications(notifier, worker, outbox, wakeups)
