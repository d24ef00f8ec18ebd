"""The per-record-type lifecycle policy (what connected chats do when the record is reassigned, resolved or
cancelled, and reopened), its defaults and its JSON shape. Decisions that use it live in domain/lifecycle.py."""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

ADD_MODES = ("button", "auto", "off")  # reassignment: an "Add B" button, add the new owner at once, or neither


@dataclass(frozen=True)
class LifecyclePolicy:
    reassign_notice: bool = False  # "Case reassigned from A to B" in every connected chat
    reassign_add: str = "off"  # ADD_MODES
    reassign_message_owner: bool = False  # a personal message to the new owner listing the connected chats
    close_notice: bool = False  # closing card on resolution or cancellation
    close_disconnect: bool = False  # disconnect the record from its chats after the closing card
    reopen_notice: bool = False  # "Case reopened by X" (and reconnect what the policy disconnected)

    @property
    def active(self) -> bool:
        return self.reassign_notice or self.reassign_add != "off" or self.reassign_message_owner or \
            self.close_notice or self.close_disconnect or self.reopen_notice


CASE_LIFECYCLE = LifecyclePolicy(reassign_notice=True, reassign_add="button", reassign_message_owner=True,
                                 close_notice=True, close_disconnect=False, reopen_notice=True)
OFF = LifecyclePolicy()
_BOOLS = tuple(f.name for f in fields(LifecyclePolicy) if f.name != "reassign_add")


def lifecycle_defaults(record_type: str) -> LifecyclePolicy:
    return CASE_LIFECYCLE if record_type == "incident" else OFF


def lifecycle_from_dict(raw: Any, start: LifecyclePolicy) -> LifecyclePolicy:
    """Stored or submitted JSON over the type's defaults; unknown keys ignored (check_lifecycle_shape first)."""
    if not isinstance(raw, dict):
        return start
    return replace(start, **{k: v for k, v in raw.items() if k in _BOOLS or k == "reassign_add"})


def check_lifecycle_shape(raw: Any, where: str) -> list[tuple[str, str]]:
    """(field, problem) pairs for a submitted `lifecycle` object."""
    if not isinstance(raw, dict):
        return [(where, "must be an object")]
    problems = [(f"{where}.{k}", "must be true or false") for k in _BOOLS if k in raw and not isinstance(raw[k], bool)]
    if "reassign_add" in raw and raw["reassign_add"] not in ADD_MODES:
        problems.append((f"{where}.reassign_add", f"must be one of {', '.join(ADD_MODES)}"))
    unknown = sorted(set(raw) - set(_BOOLS) - {"reassign_add"})
    if unknown:
        problems.append((f"{where}.{unknown[0]}", "is not a lifecycle setting"))
    return problems
