"""Which outbox rows of a conversation's lane go out together as one card (notify/worker.py)."""
from __future__ import annotations

from notify import lifecycle as life
from notify.claims import Row

MAX_GROUP = 20  # rows merged into one card at most


def ids_of(group: list[Row]) -> list[int]:
    return [int(r["id"]) for r in group]


def row_id(row: Row) -> int:
    return int(row["id"])


def record(row: Row) -> tuple[str, str, str]:
    return row["tenant_id"], row["record_type"], row["record_id"]


def alone(row: Row) -> bool:
    return life.is_notice(row) or life.is_action(row)


def take_group(queue: list[Row]) -> list[Row]:
    """The first row and every queued row for the same record in the same chat (due together: one card)."""
    key = (queue[0]["tenant_id"], queue[0]["record_type"], queue[0]["record_id"])
    group = [queue[0]]
    # Lifecycle notices and actions (issue 15) stand alone, and later updates never jump ahead of them.
    for row in queue[1:] if not alone(queue[0]) else ():
        if (row["tenant_id"], row["record_type"], row["record_id"]) != key:
            continue
        if alone(row) or len(group) >= MAX_GROUP:
            break
        group.append(row)
    taken = {id(r) for r in group}
    queue[:] = [r for r in queue if id(r) not in taken]
    return group
