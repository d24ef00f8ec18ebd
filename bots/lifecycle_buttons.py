"""The "Add <new owner> to this chat" button of a reassignment card (issue 15): any member of the chat may press
it; the new owner is checked like Join (write access, Teams licence) and added with the whole history."""
from __future__ import annotations

from typing import Any

from bots.router import Router
from bots.turn import Turn
from cards.results import notice_card
from domain.kinds import AuditEvent
from domain.lifecycle_service import LifecycleService
from domain.ports import GatewayError
from domain.results import Notice, Refusal
from domain.service import ChatService


def register(router: Router, service: ChatService, lifecycle: LifecycleService) -> None:
    async def add(turn: Turn, data: dict[str, Any]) -> dict[str, Any]:
        fields = [data.get(k) for k in ("recordType", "recordId", "chatId", "ownerKind", "ownerId")]
        if not all(isinstance(f, str) and f for f in fields):
            raise Refusal("This button is missing the record, the chat or the new owner.")
        record_type, record_id, chat_id, kind, owner_id = (str(f) for f in fields)
        if chat_id != turn.ctx.conversation_id:
            raise Refusal("This button adds people to the chat it was posted in; press it there.")
        user, _ = await service.actor(turn.ctx)  # any member the CRM knows may press it
        name = str(data.get("ownerName") or "")
        try:
            who = await lifecycle.candidate(record_type, record_id, kind, owner_id, name)
            text = await lifecycle.add(turn.ctx.tenant_id, None, record_type, record_id, chat_id, who,
                                       AuditEvent.MEMBER_ADDED_BY_BUTTON, user.id)
        except GatewayError as exc:
            raise Refusal(f"I couldn't add {name or 'the new owner'}: {exc} Press the button to try again.") from None
        return notice_card(Notice(text, ok=who.user is not None))

    router.verb("lifecycle_add", add)
