"""Every command the bot understands: one list feeds `help`, the manifest's command lists and the README."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Command:
    name: str
    usage: str
    description: str  # at most 128 characters: the manifest's limit for command descriptions
    scopes: tuple[str, ...] = ("personal", "groupChat")


COMMANDS: tuple[Command, ...] = (
    Command("help", "help", "Show what this bot can do here."),
    Command("connect", "connect <type> <key>",
            "Connect this group chat to a record, e.g. connect case CAS-01001.", ("groupChat",)),
    Command("disconnect", "disconnect [<type> <key>]",
            "Disconnect this group chat from a record (type and key can be left out if only one is connected).",
            ("groupChat",)),
    Command("records", "records", "List the records connected to this chat.", ("groupChat",)),
    Command("chats", "chats <type> <key>", "List the chats connected to a record."),
    Command("join", "join <type> <key>", "Show a record's connected chats and join one with its full history."),
    Command("new", 'new <type> <key> with @person ... [topic "..."]',
            "Start a new group chat about a record with colleagues, connected to the record."),
    Command("suggest", "suggest <type> <key>", "Suggest colleagues to chat with about a record, with presence."),
    Command("set", "set <type> <key> <field> <value>",
            "Change a field of a record, e.g. set case CAS-01001 priority High."),
)
