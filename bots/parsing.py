"""Turns message text into a command and its arguments."""
from __future__ import annotations

import html
import re

_AT = re.compile(r"<at[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


def strip_bot_mention(text: str, bot_names: set[str]) -> str:
    """Remove the bot's own <at>Name</at> (Teams includes it in group chats); keep mentions of people."""
    if not text:
        return ""  # invokes and card submits carry no text
    def drop(m: re.Match[str]) -> str:
        return "" if html.unescape(m.group(1)).strip().lower() in bot_names else m.group(0)
    text = _AT.sub(drop, text or "")
    return _SPACE.sub(" ", html.unescape(text).replace("\u00a0", " ")).strip()


def split_command(text: str) -> tuple[str, str]:
    """`Connect Case CAS-1` -> ("connect", "Case CAS-1"); case-insensitive command word, arguments kept."""
    text = _TAGS.sub(lambda m: m.group(0) if m.group(0).lower().startswith(("<at", "</at")) else "", text).strip()
    head, _, rest = text.partition(" ")
    return head.lower().strip("/!."), rest.strip()


def type_and_key(args: str) -> tuple[str, str] | None:
    """`knowledge article KA-01010` -> ("knowledge article", "KA-01010"): the key is the last word."""
    words = args.split()
    if len(words) < 2:
        return None
    return " ".join(words[:-1]), words[-1]
