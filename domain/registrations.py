"""What Dataverse must have registered for this service: webhook steps computed from the settings (issue 14).

A feature says what it needs by contributing `StepNeed`s from the settings; `desired_steps` merges them into one
step per (table, message): filtering columns and image columns are unions, and "every column" wins over a list.
Key-update notifications contribute an asynchronous Update step per notifying table, filtered to its watched
columns, with pre/post images of those columns and the primary name. Others add theirs with `contributors=`:

    def case_lifecycle(settings, primary_names):          # e.g. issue 15: owner and state changes of cases
        yield StepNeed("incident", "Update", ("ownerid", "statecode"), images=("ownerid", "statecode"))

    desired_steps(settings, names, contributors=(notification_needs, case_lifecycle))
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from domain.settings import Settings

ALL = None  # filtering: every column (Create/Delete steps, or a feature that needs any change)
STEP_PREFIX = "connected-chats"


class RegistrationStatus(Protocol):
    """What the admin status view reads: state (pending | in_sync | drift | error), drift, last_error..."""

    def status(self) -> dict[str, Any]: ...
    def request(self) -> None:
        """Reconcile again soon, in the background."""


@dataclass(frozen=True)
class StepNeed:
    """One feature's need: be called on `message` of `table`; for Update, only when `filtering` columns change."""
    table: str
    message: str  # Create | Update | Delete | ...
    filtering: tuple[str, ...] | None = ALL
    images: tuple[str, ...] = ()  # columns wanted in the pre- and post-images (none: no images)
    purpose: str = ""


@dataclass(frozen=True)
class DesiredStep:
    table: str
    message: str
    filtering: tuple[str, ...] | None  # sorted; None = every column
    images: tuple[str, ...]  # sorted
    purposes: tuple[str, ...]

    @property
    def name(self) -> str:
        """The step's name in Dataverse: how the reconciler recognises its own steps."""
        return f"{STEP_PREFIX}: {self.message} of {self.table}"


Contributor = Callable[[Settings, Mapping[str, str]], Iterable[StepNeed]]


def notification_needs(settings: Settings, primary_names: Mapping[str, str]) -> Iterable[StepNeed]:
    """Key-update notifications: an Update step per enabled, notifying type with watched columns."""
    for table, rts in sorted(settings.record_types.items()):
        if rts.enabled and rts.notify and rts.watched:
            primary = primary_names.get(table, "")
            images = (*rts.watched, primary) if primary else tuple(rts.watched)
            yield StepNeed(table, "Update", tuple(rts.watched), images, "key-update notifications")


DEFAULT_CONTRIBUTORS: tuple[Contributor, ...] = (notification_needs,)


def desired_steps(settings: Settings, primary_names: Mapping[str, str],
                  contributors: Sequence[Contributor] = DEFAULT_CONTRIBUTORS) -> list[DesiredStep]:
    merged: dict[tuple[str, str], list[StepNeed]] = {}
    for contribute in contributors:
        for need in contribute(settings, primary_names):
            merged.setdefault((need.table.lower(), need.message), []).append(need)
    steps = []
    for (table, message), needs in sorted(merged.items()):
        every = any(n.filtering is ALL for n in needs)
        filtering = None if every else tuple(sorted({c.lower() for n in needs for c in n.filtering or ()}))
        images = tuple(sorted({c.lower() for n in needs for c in n.images}))
        purposes = tuple(dict.fromkeys(n.purpose for n in needs if n.purpose))
        steps.append(DesiredStep(table, message, filtering, images, purposes))
    return steps


@dataclass(frozen=True)
class ExistingStep:
    id: str
    name: str
    table: str
    message: str
    filtering: tuple[str, ...] | None
    images: dict[int, tuple[str, ...]]  # image type (0 pre, 1 post) -> columns


@dataclass(frozen=True)
class Plan:
    create: list[DesiredStep]
    update: list[tuple[ExistingStep, DesiredStep]]
    remove: list[ExistingStep]

    @property
    def in_sync(self) -> bool:
        return not (self.create or self.update or self.remove)

    def describe(self) -> list[str]:
        """The drift, in words an admin reads on the status view."""
        return ([f"missing: {d.name} ({_cols(d.filtering)})" for d in self.create]
                + [f"differs: {e.name} has {_cols(e.filtering)}, should have {_cols(d.filtering)}"
                   + ("" if e.images == _images(d) else " (images differ)") for e, d in self.update]
                + [f"not needed: {e.name} ({_cols(e.filtering)})" for e in self.remove])


def plan(desired: Sequence[DesiredStep], existing: Sequence[ExistingStep]) -> Plan:
    """Steps to create, change or remove so that exactly the desired ones exist on our endpoint."""
    by_name: dict[str, ExistingStep] = {}
    duplicates = []  # e.g. two replicas that created the same step at once: keep one
    for step in existing:
        if step.name in by_name:
            duplicates.append(step)
        else:
            by_name[step.name] = step
    wanted = {d.name for d in desired}
    create = [d for d in desired if d.name not in by_name]
    update = [(by_name[d.name], d) for d in desired if d.name in by_name and not _same(by_name[d.name], d)]
    remove = [e for e in by_name.values() if e.name not in wanted] + duplicates
    return Plan(create, update, remove)


def _images(step: DesiredStep) -> dict[int, tuple[str, ...]]:
    return {0: step.images, 1: step.images} if step.images else {}


def _same(existing: ExistingStep, desired: DesiredStep) -> bool:
    filtering = None if existing.filtering is None else tuple(sorted(existing.filtering))
    images = {k: tuple(sorted(v)) for k, v in existing.images.items()}
    return (existing.table, existing.message, filtering) == (desired.table, desired.message, desired.filtering) \
        and images == _images(desired)


def _cols(filtering: tuple[str, ...] | None) -> str:
    return "any column" if filtering is None else ",".join(filtering) or "no column"
