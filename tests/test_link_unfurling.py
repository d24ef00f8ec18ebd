"""Link unfurling: which URLs are record links, and composeExtension/queryLink through /api/messages."""
from __future__ import annotations

import json
from typing import Any

import pytest

from domain.record_links import RecordLink, parse
from tests.card_schema import assert_valid_card
from tests.conftest import Running
from tests.teams import ALEX, ISAIAH, activity

PUBLIC = "https://cc.example"  # tests.conftest.test_config's PUBLIC_URL
CASE_ID = "e1a2b3c4-0001-4000-8000-000000001001"
ORG = "https://contoso.crm4.dynamics.com"


@pytest.mark.parametrize("url, expected", [
    (f"{ORG}/main.aspx?appid=0d1e2f3a-0000-4000-8000-000000000001&pagetype=entityrecord&etn=incident"
     f"&id={CASE_ID.upper()}", RecordLink("incident", CASE_ID)),
    (f"{ORG}/main.aspx?etn=incident&pagetype=entityrecord&id=%7B{CASE_ID}%7D", RecordLink("incident", CASE_ID)),
    (f"{ORG}/main.aspx?forceUCI=1#etn=account&id={{{CASE_ID}}}&pagetype=entityrecord",
     RecordLink("account", CASE_ID)),
    (f"{ORG}/main.aspx?pagetype=entitylist&etn=incident", None),
    (f"{ORG}/main.aspx?pagetype=entityrecord&etn=incident&id=CAS-01001", None),
    (f"{ORG}/main.aspx?pagetype=entityrecord&etn=inc'ident&id={CASE_ID}", None),
    (f"{PUBLIC}/tabs/record?type=case&id=CAS-01001-K7R2M8&app=Hub", RecordLink("case", "CAS-01001-K7R2M8")),
    (f"{PUBLIC}/tabs/record/?id=KA-01010&type=knowledgearticle", RecordLink("knowledgearticle", "KA-01010")),
    ("https://evil.example/tabs/record?type=case&id=CAS-01001-K7R2M8", None),
    (f"{PUBLIC}:8443/tabs/record?type=case&id=CAS-01001-K7R2M8", None),
    (f"{PUBLIC}/tabs/admin?type=case&id=x", None),
    ("javascript:alert(1)//main.aspx?pagetype=entityrecord", None),
    (f"{PUBLIC}/tabs/record?type=case&id=" + "x" * 3000, None),
    ("https://[::1/main.aspx", None),
])
def test_record_links(url: str, expected: RecordLink | None) -> None:
    assert parse(url, PUBLIC) == expected


def query_link(url: Any, user: str = ALEX) -> dict[str, Any]:
    body = activity("", user=user, mention=False)
    body.update(type="invoke", name="composeExtension/queryLink", text=None, value={"url": url})
    return body


async def unfurl(running: Running, url: Any, user: str = ALEX) -> list[dict[str, Any]]:
    status, answer = await running.bot.post(query_link(url, user))
    assert status == 200, answer
    result = answer["composeExtension"]
    assert result["type"] == "result"
    return list(result["attachments"])


async def test_own_and_dynamics_links_unfurl_into_the_record_card(running: Running):
    for url in (f"{PUBLIC}/tabs/record?type=case&id=CAS-01001-K7R2M8",
                f"{ORG}/main.aspx?appid=1&pagetype=entityrecord&etn=incident&id={CASE_ID}"):
        (shown,) = await unfurl(running, url)
        assert shown["preview"]["content"]["title"] == "Cannot sign in to the customer portal"
        card = shown["content"]
        assert_valid_card(card)
        assert card["actions"][0]["verb"] == "connect"
        assert card["actions"][0]["data"] == {"recordType": "incident", "recordId": CASE_ID}


async def test_no_preview_without_access_or_record(running: Running):
    """Isaiah cannot read knowledge articles: nothing of the article reaches him. Unknown records, types turned
    off for chats, other links and malformed values give no preview either, never an error."""
    article = f"{PUBLIC}/tabs/record?type=knowledgearticle&id=KA-01010"
    assert len(await unfurl(running, article)) == 1
    assert await unfurl(running, article, user=ISAIAH) == []
    for url in (f"{PUBLIC}/tabs/record?type=case&id=CAS-99999", f"{PUBLIC}/tabs/record?type=spaceship&id=1",
                f"{PUBLIC}/tabs/record?type=msdyn_workorder&id=WO-00042",
                f"{ORG}/main.aspx?pagetype=entityrecord&etn=incident&id=00000000-0000-0000-0000-000000000000",
                "https://example.com/", None, 42, ["x"]):
        assert await unfurl(running, url) == [], url
    status, _ = await running.bot.post(query_link(article, user="00000000-0000-0000-0000-00000000dead"))
    assert status == 200
    assert "KA-01010" not in json.dumps(await unfurl(running, article, user=ISAIAH))
