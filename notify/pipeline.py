"""The running notification pipeline: one outbox, its delivery worker, and the notifier that plans change events into
it. app.py starts it with the other long-lived objects; the webhook intake and the `set` command submit to it."""
from __future__ import annotations

from dataclasses import dataclass

from domain.lifecycle_service import LifecycleService
from domain.ports import Messenger, Outbox, RecordSource, SettingsStore
from notify.lifecycle import Conversations, Hooks
from notify.notifier import Notifier
from notify.worker import DeliveryWorker
from store.connections import SqlConnectionStore


@dataclass
class Notifications:
    notifier: Notifier
    worker: DeliveryWorker
    outbox: Outbox


def start(outbox: Outbox, records: RecordSource, connections: SqlConnectionStore, settings: SettingsStore,
          messenger: Messenger, allowed_tenants: frozenset[str], lifecycle: LifecycleService | None = None,
          conversations: Conversations | None = None) -> Notifications:
    """Starts the delivery worker; stop it with `await notifications.worker.stop()`. With `lifecycle` (and the
    Bot Connector as `conversations`, for personal messages) the record's lifecycle is followed too (issue 15)."""
    hooks = Hooks(lifecycle, conversations, messenger) if lifecycle and conversations else None
    worker = DeliveryWorker(outbox, connections, messenger, hooks=hooks)
    notifier = Notifier(records, connections, settings, outbox, allowed_tenants, worker.wake,
                        lifecycle if hooks else None)
    worker.start()
    return Notifications(notifier, worker, outbox)
