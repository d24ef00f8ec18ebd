"""The running notification pipeline: one outbox, its delivery worker, and the notifier that plans change events into
it. app.py starts it with the other long-lived objects; the webhook intake and the `set` command submit to it."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from domain.lifecycle_service import LifecycleService
from domain.ports import Messenger, Outbox, RecordSource, SettingsStore
from notify.lifecycle import Conversations, Hooks
from notify.notifier import Notifier
from notify.worker import DeliveryWorker
from store.connections import SqlConnectionStore
from store.wakeups import BLOCKS_CHANNEL, OUTBOX_CHANNEL


@dataclass
class Notifications:
    notifier: Notifier
    worker: DeliveryWorker
    outbox: Outbox
    delivering: bool = True

    async def stop(self) -> None:
        await self.worker.stop()

    def wake_handlers(self) -> dict[str, Callable[[], None]]:
        """What other replicas' commits should trigger here (store/wakeups.py): the worker, if this one delivers."""
        return {OUTBOX_CHANNEL: self.worker.wake} if self.delivering else {}

    def payload_handlers(self) -> dict[str, Callable[[str | None], None]]:
        """Other replicas' send blocks (a Bot Connector 429) hold this worker's rows for those chats too."""
        return {BLOCKS_CHANNEL: self.worker.throttle.heard} if self.delivering else {}


def start(outbox: Outbox, records: RecordSource, connections: SqlConnectionStore, settings: SettingsStore,
          messenger: Messenger, allowed_tenants: frozenset[str], lifecycle: LifecycleService | None = None,
          conversations: Conversations | None = None, *, poll: float, deliver: bool = True) -> Notifications:
    """Starts the delivery worker, unless `deliver` is off (a replica that only accepts work); stop it with
    `await notifications.stop()`. Committed work wakes it at once in this process (the notifier's callback).
    With `lifecycle` (and the Bot Connector as `conversations`, for personal messages) the record's lifecycle is
    followed too (issue 15)."""
    hooks = Hooks(lifecycle, conversations, messenger) if lifecycle and conversations else None
    worker = DeliveryWorker(outbox, connections, messenger, poll=poll, hooks=hooks)
    notifier = Notifier(records, connections, settings, outbox, allowed_tenants, worker.wake,
                        lifecycle if hooks else None)
    if deliver:
        worker.start()
    return Notifications(notifier, worker, outbox, deliver)
