"""join, new and suggest (Microsoft Graph behind domain.collab), and their card buttons."""
from __future__ import annotations

import asyncio
import re
from typing import Any

from bots import views
from bots.commands import _data, _record_args
from bots.connector import ConnectorClient
from bots.router import Router
from bots.turn import Reply, Turn
from cards.render import render
from domain.collab import CollabService, NewChat
from domain.model import ConversationRef, User
from domain.results import Notice, Refusal

INVOKE_BUDGET = 3.0  # Teams waits about 5 s for an invoke; answer by then and follow up proactively
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


def register(router: Router, collab: CollabService, connector: ConnectorClient) -> None:
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
        return [Reply(card=views.chats_card(await collab.join_view(turn.ctx, rtype, key)))]

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

    for name, handler in (("join", join), ("new", new), ("suggest", suggest)):
        router.command(name, handler)

    async def verb_join(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        chat = data.get("chatId")
        if not isinstance(chat, str) or not chat:
            raise Refusal("This button is missing its chat; run `join` again.")
        text = await collab.join(turn.ctx, *_data(data), chat)
        return views.notice_card(Notice(text))

    async def verb_suggest(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        section = data.get("section") if isinstance(data.get("section"), str) else None
        return render("suggest", s=await collab.suggest(turn.ctx, *_data(data), only=section))

    async def verb_newchat(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        aad = data.get("withUser")
        user = await records.user_by_aad(aad) if isinstance(aad, str) else None
        if user is None:
            raise Refusal("This button is missing the colleague to chat with.")
        work = asyncio.ensure_future(collab.new_chat(turn.ctx, *_data(data), [user], None))
        try:
            return new_chat_card(await asyncio.wait_for(asyncio.shield(work), INVOKE_BUDGET))
        except TimeoutError:
            work.add_done_callback(lambda task: asyncio.ensure_future(_follow_up(turn, task)))
            return views.notice_card(Notice("Creating the chat; I'll post here when it's ready."))

    async def _follow_up(turn: Turn, task: asyncio.Future[NewChat]) -> None:
        ref = ConversationRef(turn.ctx.service_url, turn.ctx.conversation_id, turn.ctx.tenant_id, turn.ctx.bot_id)
        exc = task.exception()
        card = views.notice_card(Notice(str(exc), ok=False)) if isinstance(exc, Refusal) else \
            views.notice_card(Notice("Creating the chat failed; please try again.", ok=False)) if exc else \
            new_chat_card(task.result())
        await connector.post(ref, card)

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


def new_chat_card(chat: NewChat) -> dict[str, Any]:
    return render("newchat", c=chat)
