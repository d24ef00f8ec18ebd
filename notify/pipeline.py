"""The running notification pipeline: one outbox, its delivery worker, and the notifier that plans change events into
it. app.py starts it with the other long-lived objects; the webhook intake and the `set` command submit to it."""
from __future__ import annotations

from dataclasses import dataclass

from domain.ports import Messenger, Outbox, RecordSource, SettingsStore
from notify.notifier import Notifier
from notify.worker import DeliveryWorker
from store.connections import SqlConnectionStore


@dataclass
class Notifications:
    notifier: Notifier
    worker: DeliveryWorker
    outbox: Outbox


def start(outbox: Outbox, records: RecordSource, connections: SqlConnectionStore, settings: SettingsStore,
          messenger: Messenger, allowed_tenants: frozenset[str]) -> Notifications:
    """Starts the delivery worker; stop it with `await notifications.worker.stop()`."""
    worker = DeliveryWorker(outbox, connections, messenger)
    notifier = Notifier(records, connections, settings, outbox, allowed_tenants, worker.wake)
    worker.start()
    return Notifications(notifier, worker, outbox)
