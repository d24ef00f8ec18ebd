"""Reads a Bot Framework activity (the JSON Teams posts) into a Turn: only the fields this bot uses, each checked for
its JSON type, so a sender's odd values become empty strings, never an exception halfway through a turn."""
from __future__ import annotations

from typing import Any

from bots.parsing import strip_bot_mention
from bots.turn import Mention, Turn
from domain.results import ChatContext


def missing(raw: Any) -> str:
    """Why the body is not an activity this bot can answer ("" when it is)."""
    if not isinstance(raw, dict):
        return "the activity must be a JSON object"
    if not isinstance(raw.get("type"), str) or not raw["type"]:
        return "the activity has no type"
    if not isinstance(raw.get("serviceUrl"), str) or not raw["serviceUrl"].startswith(("http://", "https://")):
        return "the activity has no valid serviceUrl"
    for part in ("conversation", "recipient"):
        if not isinstance(raw.get(part), dict) or not isinstance(raw[part].get("id"), str):
            return f"the activity has no {part}.id"
    if raw.get("from") is not None and not isinstance(raw.get("from"), dict):
        return "the activity's from must be an object"
    return ""


def _s(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def read_turn(raw: dict[str, Any]) -> Turn:
    """The Turn of an activity that passed `missing`."""
    kind, conv, bot, sender = raw["type"], raw["conversation"], raw["recipient"], _obj(raw.get("from"))
    bot_id = bot["id"]
    channel_data = _obj(raw.get("channelData"))
    tenant = (_s(conv.get("tenantId")) or _s(_obj(channel_data.get("tenant")).get("id"))).lower()
    conv_type = _s(conv.get("conversationType")) or ("groupChat" if conv.get("isGroup") else "personal")
    if channel_data.get("channel") or channel_data.get("teamsChannelId"):
        conv_type = "channel"
    bot_names = {_s(bot.get("name")).lower()}
    to_bot = conv_type == "personal"
    mentions = []
    entities = raw.get("entities")
    for entity in entities if isinstance(entities, list) else ():
        if not isinstance(entity, dict) or entity.get("type") != "mention":
            continue
        mentioned = _obj(entity.get("mentioned"))
        if not mentioned:
            continue
        if mentioned.get("id") == bot_id:
            bot_names.add(str(mentioned.get("name", "")).lower())
            to_bot = True
        else:
            mentions.append(Mention(str(mentioned.get("id", "")), str(mentioned.get("name", "")),
                                    str(mentioned.get("aadObjectId", ""))))
    added, removed = _members(raw.get("membersAdded")), _members(raw.get("membersRemoved"))
    topic = raw.get("topicName") if kind == "conversationUpdate" else None
    install = raw.get("action") if kind == "installationUpdate" else None
    ctx = ChatContext(tenant_id=tenant, conversation_id=conv["id"], conversation_type=conv_type,
                      user_aad=_s(sender.get("aadObjectId")).lower(), user_name=_s(sender.get("name")),
                      service_url=raw["serviceUrl"], bot_id=bot_id)
    value = raw.get("value")
    return Turn(kind=kind, ctx=ctx, text=strip_bot_mention(_s(raw.get("text")), bot_names),
                name=_s(raw.get("name")), value=value if isinstance(value, dict) else None,
                activity_id=_s(raw.get("id")), mentions=tuple(mentions),
                # Teams (and the Agents Playground) announce an install twice, as installationUpdate "add" and
                # as conversationUpdate membersAdded: only the latter counts, or every welcome is sent twice.
                bot_added=any(m.id == bot_id for m in added),
                bot_removed=any(m.id == bot_id for m in removed) or install in ("remove", "remove-upgrade"),
                chat_title=_s(conv.get("name")), addressed=to_bot, topic=topic if isinstance(topic, str) else None,
                joined=tuple(m for m in added if m.id != bot_id), left=tuple(m for m in removed if m.id != bot_id))


def _members(items: Any) -> tuple[Mention, ...]:
    """membersAdded / membersRemoved: the people (and perhaps the bot) with their Entra object ids lower-cased."""
    if not isinstance(items, list):
        return ()
    return tuple(Mention(str(m.get("id", "")), str(m.get("name") or ""), str(m.get("aadObjectId") or "").lower())
                 for m in items if isinstance(m, dict))
