"""`set <type> <key> <field> <value>`: an agent with write access changes one field of a record from the chat.
The change goes through the record source; with the local source its change event then takes the same path as
a Dataverse webhook's (notifier -> outbox -> every connected chat)."""
from __future__ import annotations

import logging
from datetime import datetime
from decimal import Decimal, InvalidOperation

from bots.router import BOTH, Command, Router
from bots.turn import Reply, Turn
from domain.kinds import CHOICE_TYPES, LOOKUP_TYPES, AttributeType
from domain.model import Attribute, ChangeEvent, Record, RecordType
from domain.ports import GatewayError, RecordSource
from domain.results import ChatContext, Refusal
from domain.service import ChatService
from notify.notifier import Notifier

log = logging.getLogger(__name__)
SET = Command("set", "set <type> <key> <field> <value>",
              "Change a field of a record, e.g. set case CAS-01001 priority High.", BOTH)
COMMANDS = (SET,)
USAGE = "set <type> <key> <field> <value>, e.g. `set case CAS-01001 priority High`"
TEXT_LIMITS: dict[str, int] = {AttributeType.STRING: 4000, AttributeType.MEMO: 100_000}
NUMBERS = frozenset({AttributeType.INTEGER, AttributeType.BIGINT})
DECIMALS = frozenset({AttributeType.MONEY, AttributeType.DECIMAL, AttributeType.DOUBLE})
SETTABLE = frozenset(TEXT_LIMITS) | NUMBERS | DECIMALS | CHOICE_TYPES | {AttributeType.BOOLEAN, AttributeType.DATETIME}
YES, NO = frozenset({"yes", "true", "on", "1"}), frozenset({"no", "false", "off", "0"})


def register(router: Router, service: ChatService, notifier: Notifier, submit_changes: bool = True) -> None:
    async def set_(turn: Turn, args: str) -> list[Reply]:
        return [Reply(text=await change(service, notifier, turn.ctx, args, submit_changes))]

    router.command(SET, set_)


async def change(service: ChatService, notifier: Notifier, ctx: ChatContext, args: str, submit: bool) -> str:
    user, _ = await service.actor(ctx)
    type_name, key, rest = await _split(service.records, args)
    rtype, record = await service.resolve(type_name, key, user)
    access = await service.records.access(user, record)
    kind = rtype.display_name.lower()
    if access == "none":
        raise Refusal(f"You don't have access to this {kind}.")
    if access != "write":
        raise Refusal(f"You have read-only access to {kind} {record.name!r}, so you can't change it.")
    attr, typed = _field(rtype, rest)
    if attr.type == "Owner" and not submit:  # issue 15: reassigning from chat is for the local source only
        raise Refusal(f"{attr.display_name} is changed in the CRM; the chats hear of it from there.")
    value = checked_value(rtype, attr, typed)
    current = str(record.values.get(attr.name) or "")
    if current == value or (attr.type == "Owner" and current.lower() == value.lower()):  # owners: names, any case
        return f"{attr.display_name} of {kind} {record.name!r} is already {value}; nothing changed."
    try:
        event = await service.records.acting_as(user).update_record(user, record, attr.name, value)
    except (GatewayError, LookupError, ValueError) as exc:
        raise Refusal(f"The CRM didn't accept the change: {exc}") from None
    old, new = event.changed.get(attr.name, ("", value))
    reply = f"{attr.display_name} of {kind} {record.name!r} changed: {old or '(empty)'} → {new or '(empty)'}."
    if submit:
        reply += await _notify(notifier, record, event)
    return reply


async def _notify(notifier: Notifier, record: Record, event: ChangeEvent) -> str:
    try:
        outcome = await notifier.submit(event, event.event_id)
    except Exception:  # the change is made; say plainly that the chats won't hear of it
        log.exception("could not queue the notification for %s %s", record.type, record.id)
        return " Connected chats could not be notified."
    return f" Connected chats will be notified ({outcome.chats})." if outcome.status == "accepted" else ""


async def _split(records: RecordSource, args: str) -> tuple[str, str, list[str]]:
    """The type may be several words (knowledge article); the key is one word; field and value follow."""
    words = args.split()
    if len(words) < 4:
        raise Refusal(f"Say what to change, like this: {USAGE}.")
    for n in range(min(3, len(words) - 3), 0, -1):
        if await records.record_type(" ".join(words[:n])):
            return " ".join(words[:n]), words[n], words[n + 1:]
    names = ", ".join(sorted(t.display_name.lower() for t in await records.record_types()))
    raise Refusal(f"I don't know the record type {words[0]!r}. Try one of: {names}.")


def _field(rtype: RecordType, rest: list[str]) -> tuple[Attribute, str]:
    """The longest run of words naming a field (logical or display name, any case); the rest is the value."""
    by_name: dict[str, Attribute] = {}
    for attr in rtype.attributes.values():
        by_name.setdefault(attr.display_name.lower(), attr)
        by_name[attr.name.lower()] = attr
    for n in range(len(rest) - 1, 0, -1):
        found = by_name.get(" ".join(rest[:n]).lower())
        if found:
            return found, " ".join(rest[n:]).strip().strip("\"'“”")
    fields = ", ".join(sorted(a.display_name for a in rtype.attributes.values() if a.type in SETTABLE))
    raise Refusal(f"{rtype.display_name} has no field {rest[0]!r} that I know. Fields you can set: {fields}.")


def checked_value(rtype: RecordType, attr: Attribute, typed: str) -> str:
    """The value as the record stores it, or a Refusal saying what is allowed."""
    if attr.name == rtype.number:
        raise Refusal(f"{attr.display_name} is assigned by the CRM and can't be changed.")
    if attr.type == "Owner" and typed:
        return typed  # a user's or team's name or email; the record source finds them (issue 15)
    if attr.type in LOOKUP_TYPES:
        raise Refusal(f"{attr.display_name} is a lookup to another record; change it in the CRM.")
    if attr.type not in SETTABLE:
        raise Refusal(f"{attr.display_name} is a {attr.type} field, which can't be changed from a chat.")
    if not typed:
        raise Refusal(f"Say the new value for {attr.display_name}.")
    if attr.options:
        match = next((o for o in attr.options if o.lower() == typed.lower()), None)
        if match is None:
            raise Refusal(f"{attr.display_name} can't be {typed!r}; choose one of: {', '.join(attr.options)}.")
        return match
    return _typed(attr, typed)


def _typed(attr: Attribute, typed: str) -> str:
    if attr.type == AttributeType.BOOLEAN:
        if typed.lower() not in YES | NO:
            raise Refusal(f"{attr.display_name} must be yes or no.")
        return "Yes" if typed.lower() in YES else "No"
    try:
        if attr.type in NUMBERS:
            return str(int(typed.replace(",", "")))
        if attr.type in DECIMALS:
            return str(Decimal(typed.replace(",", "").lstrip("$€£")))
        if attr.type == AttributeType.DATETIME:
            return datetime.fromisoformat(typed.replace("Z", "+00:00")).isoformat()
    except (ValueError, InvalidOperation):
        raise Refusal(f"{attr.display_name} must be a {_kind(attr.type)}, not {typed!r}.") from None
    limit = TEXT_LIMITS.get(attr.type, 4000)
    if len(typed) > limit:
        raise Refusal(f"{attr.display_name} takes at most {limit} characters.")
    return typed


def _kind(attr_type: str) -> str:
    if attr_type in NUMBERS:
        return "whole number"
    return "date like 2026-12-01 or 2026-12-01T09:30" if attr_type == AttributeType.DATETIME else "number"
