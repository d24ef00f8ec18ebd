"""A SettingsStore that tells listeners after each successful save (e.g. reconcile Dataverse's registration).
Listeners must return at once; they schedule their work, so a save never waits for them."""
from __future__ import annotations

from collections.abc import Callable

from domain.ports import SettingsStore
from domain.settings import Settings


class WatchedSettings:
    def __init__(self, inner: SettingsStore) -> None:
        self._inner = inner
        self._listeners: list[Callable[[], None]] = []

    def on_save(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    async def load(self) -> tuple[Settings, str]:
        return await self._inner.load()

    async def save(self, settings: Settings, if_match: str | None) -> str:
        etag = await self._inner.save(settings, if_match)
        for listener in self._listeners:
            listener()
        return etag
