"""join, new and suggest (Microsoft Graph behind domain.collab), and their card buttons."""
from __future__ import annotations

import re
from typing import Any

from bots.background import Background, Late
from bots.commands import _data, _record_args
from bots.router import BOTH, Command, Router
from bots.turn import Reply, Turn
from cards.render import render
from cards.results import chats_card, new_chat_card, notice_card
from domain.collab import CollabService, NewChat
from domain.model import ConversationRef, User
from domain.ports import DeliveryError
from domain.results import Notice, Refusal
from teams.connector import ConnectorClient

JOIN = Command("join", "join <type> <key>", "Show a record's connected chats and join one with its full history.", BOTH)
NEW = Command("new", 'new <type> <key> with @person ... [topic "..."]',
              "Start a new group chat about a record with colleagues, connected to the record.", BOTH)
SUGGEST = Command("suggest", "suggest <type> <key>", "Suggest colleagues to chat with about a record, with presence.",
                  BOTH)
COMMANDS = (JOIN, NEW, SUGGEST)
_TOPIC = re.compile(r'\btopic\s+"([^"]*)"|\btopic\s+\u201c([^\u201d]*)\u201d', re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_AT = re.compile(r"<at[^>]*>.*?</at>", re.IGNORECASE | re.DOTALL)


def parse_new(args: str) -> tuple[str, str, str | None, list[str]]:
    """`case CAS-1 with @Megan x@y.z topic "Printer"` -> ("case", "CAS-1", "Printer", ["x@y.z"])."""
    topic = None
    if match := _TOPIC.search(args):
        topic = match.group(1) if match.group(1) is not None else match.group(2)
        args = args[:match.start()] + " " + args[match.end():]
    parts = re.split(r"\s+with\s+", args, maxsplit=1, flags=re.IGNORECASE)
    words = _AT.sub(" ", parts[0]).split()
    if len(words) < 2:
        raise Refusal('Say which record and who: `new case CAS-01001 with @Megan @Adele topic "Printer outage"`.')
    people = parts[1] if len(parts) > 1 else ""
    return " ".join(words[:-1]), words[-1], topic, _EMAIL.findall(_AT.sub(" ", people))


def register(router: Router, collab: CollabService, connector: ConnectorClient, background: Background) -> None:
    records = collab.chats.records

    async def people_of(turn: Turn, emails: list[str]) -> list[User]:
        found: list[User] = []
        for mention in turn.mentions:
            aad = mention.aad_object_id or (await connector.member(
                turn.ctx.service_url, turn.ctx.conversation_id, mention.id)).get("aadObjectId", "")
            user = await records.user_by_aad(aad) if aad else None
            if user is None:
                raise Refusal(f"I can't find {mention.name or 'someone you mentioned'} in the CRM.")
            found.append(user)
        by_email = {u.email.lower(): u for u in await records.users_by_email(emails)}
        missing = [e for e in emails if e.lower() not in by_email]
        if missing:
            raise Refusal(f"I can't find {', '.join(missing)} in the CRM.")
        return found + list(by_email.values())

    async def join(turn: Turn, args: str) -> list[Reply]:
        rtype, key = _record_args(args, "join case CAS-01001")
        return [Reply(card=chats_card(await collab.join_view(turn.ctx, rtype, key)))]

    async def new(turn: Turn, args: str) -> list[Reply]:
        rtype, key, topic, emails = parse_new(args)
        people = await people_of(turn, emails)
        if not people:  # nobody named: suggest people (each card row's Chat button starts the connected chat)
            suggestions = await collab.suggest(turn.ctx, rtype, key)
            return [Reply(text=f"Add at least one colleague: `new {rtype} {key} with @Megan`, or press Chat next to "
                               "someone suggested below."), Reply(card=render("suggest", s=suggestions))]
        return [Reply(card=new_chat_card(await collab.new_chat(turn.ctx, rtype, key, people, topic)))]

    async def suggest(turn: Turn, args: str) -> list[Reply]:
        rtype, key = _record_args(args, "suggest case CAS-01001")
        return [Reply(card=render("suggest", s=await collab.suggest(turn.ctx, rtype, key)))]

    for command, handler in ((JOIN, join), (NEW, new), (SUGGEST, suggest)):
        router.command(command, handler)

    async def verb_join(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        chat = data.get("chatId")
        if not isinstance(chat, str) or not chat:
            raise Refusal("This button is missing its chat; run `join` again.")
        text = await collab.join(turn.ctx, *_data(data), chat)
        return notice_card(Notice(text))

    async def verb_suggest(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        section = data.get("section") if isinstance(data.get("section"), str) else None
        return render("suggest", s=await collab.suggest(turn.ctx, *_data(data), only=section))

    async def verb_newchat(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        aad = data.get("withUser")
        user = await records.user_by_aad(aad) if isinstance(aad, str) else None
        if user is None:
            raise Refusal("This button is missing the colleague to chat with.")
        ref = ConversationRef(turn.ctx.service_url, turn.ctx.conversation_id, turn.ctx.tenant_id, turn.ctx.bot_id)

        async def finished(chat: NewChat) -> None:
            await connector.post(ref, new_chat_card(chat))

        async def failed(exc: BaseException) -> None:
            text = str(exc) if isinstance(exc, Refusal) else \
                f"The chat is ready, but I couldn't post it here ({exc}); run `join` to find it." \
                if isinstance(exc, DeliveryError) else "Creating the chat failed; please try again."
            await connector.post(ref, notice_card(Notice(text, ok=False)))

        made = await background.within(collab.new_chat(turn.ctx, *_data(data), [user], None), "new chat",
                                       finished=finished, failed=failed)
        if isinstance(made, Late):
            return notice_card(Notice("Creating the chat; I'll post here when it's ready."))
        return new_chat_card(made)

    async def verb_finish(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        chat_id, topic = data.get("chatId"), data.get("topic")
        if not isinstance(chat_id, str) or not chat_id:
            raise Refusal("This button is missing its chat.")
        user, _ = await collab.chats.actor(turn.ctx)
        rtype, record = await collab.chats.resolve(*_data(data))
        pending = NewChat(record, rtype, chat_id, str(topic or ""), [], None, False)
        return new_chat_card(await collab.finish(turn.ctx, pending, user))

    for name, vhandler in (("join", verb_join), ("suggest", verb_suggest), ("newchat", verb_newchat),
                           ("finish", verb_finish)):
        router.verb(name, vhandler)

