"""Shared by the notification tests: Dataverse webhook bodies built from the sample in ../shared/samples/, a
directory with many cases, and a running app configured with a webhook key."""
from __future__ import annotations

import asyncio
import copy
import json
import time
import uuid
from collections.abc import Awaitable, Callable
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp

from config import Config
from tests.conftest import DEMO, Running, start_app, test_config
from tests.fake_connector import FakeConnector
from tests.teams import Bot

KEY = "k3y-for-tests-0123456789"
HEADER = "x-teamsconnector-key"
CASE_ID = "5b8f1c3e-7a2d-ef11-8409-000d3a4b9c21"  # the sample's incident: CAS-01234-Z9Y8X7 in the demo directory
CASE = "CAS-01234-Z9Y8X7"
CASE_TITLE = "Contoso - printer outage in building 4"
_HERE = Path(__file__).resolve().parent
# A copy of ../shared/samples/ ships in tests/samples/ so a clone on its own runs the tests.
SAMPLE = _HERE / "samples" / "dataverse-webhook-incident-update.json"


@cache
def _sample() -> str:
    return SAMPLE.read_text(encoding="utf-8")


def pairs(entries: list[dict[str, Any]]) -> dict[str, Any]:
    return {p["key"]: p["value"] for p in entries}


def set_pair(entries: list[dict[str, Any]], key: str, value: Any) -> None:
    for p in entries:
        if p["key"] == key:
            p["value"] = value
            return
    entries.append({"key": key, "value": value})


def drop_pair(entries: list[dict[str, Any]], key: str) -> None:
    entries[:] = [p for p in entries if p["key"] != key]


def option(value: int) -> dict[str, Any]:
    return {"__type": "OptionSetValue:http://schemas.microsoft.com/xrm/2011/Contracts", "Value": value}


def sample_body() -> dict[str, Any]:
    """The sample exactly as Dataverse would send it (incident CAS-01234: priority Normal -> High, new owner)."""
    body: dict[str, Any] = json.loads(_sample())
    return body


def webhook_body(record_id: str = CASE_ID, priority: tuple[str, str] | None = ("Normal", "High"),
                 status: tuple[str, str] | None = None, owner_only: bool = False,
                 owner: tuple[tuple[str, str], tuple[str, str]] | None = None,
                 state: tuple[str, str] | None = None) -> dict[str, Any]:
    """The sample re-aimed at a record, with its own OperationId and the chosen priority/status reason change.
    The sample also reassigns the case; that stays out unless `owner_only` or `owner` ((old id, old name),
    (new id, new name)) asks for a reassignment (issue 15). `state`: a statecode change (old label, new label)."""
    body = copy.deepcopy(sample_body())
    if owner or not owner_only:  # owner_only: the sample's own reassignment, alone
        _owner(body, owner)
    if state:
        _state(body, state)
    body["OperationId"] = str(uuid.uuid4())
    body["PrimaryEntityId"] = record_id
    target = body["InputParameters"][0]["value"]
    pre, post = body["PreEntityImages"][0]["value"], body["PostEntityImages"][0]["value"]
    for entity in (target, pre, post):
        entity["Id"] = record_id
        set_pair(entity["Attributes"], "incidentid", record_id)
    for column, change, code in (("prioritycode", priority, 2), ("statuscode", status, 3)):
        if change is None or owner_only:
            drop_pair(target["Attributes"], column)
            drop_pair(target["FormattedValues"], column)
            continue
        set_pair(target["Attributes"], column, option(code))
        set_pair(target["FormattedValues"], column, change[1])
        set_pair(pre["FormattedValues"], column, change[0])
        set_pair(post["FormattedValues"], column, change[1])
    return body


def _owner(body: dict[str, Any], owner: tuple[tuple[str, str], tuple[str, str]] | None) -> None:
    target = body["InputParameters"][0]["value"]
    pre, post = body["PreEntityImages"][0]["value"], body["PostEntityImages"][0]["value"]
    if owner is None:
        drop_pair(target["Attributes"], "ownerid")
        return
    (old_id, old_name), (new_id, new_name) = owner
    for entity, oid, name in ((target, new_id, None), (pre, old_id, old_name), (post, new_id, new_name)):
        ref: dict[str, Any] = {"__type": "EntityReference:http://schemas.microsoft.com/xrm/2011/Contracts", "Id": oid,
               "KeyAttributes": [], "LogicalName": "systemuser", "Name": name, "RowVersion": None}
        set_pair(entity["Attributes"], "ownerid", ref)


def _state(body: dict[str, Any], state: tuple[str, str]) -> None:
    target = body["InputParameters"][0]["value"]
    pre, post = body["PreEntityImages"][0]["value"], body["PostEntityImages"][0]["value"]
    codes = {"Active": 0, "Resolved": 1, "Cancelled": 2}
    set_pair(target["Attributes"], "statecode", option(codes.get(state[1], 1)))
    for entity, label in ((target, state[1]), (pre, state[0]), (post, state[1])):
        set_pair(entity["FormattedValues"], "statecode", label)
    set_pair(pre["Attributes"], "statecode", option(codes.get(state[0], 0)))
    set_pair(post["Attributes"], "statecode", option(codes.get(state[1], 1)))


def directory_with_cases(tmp_path: Path, count: int) -> tuple[Path, list[tuple[str, str]]]:
    """The demo directory plus `count` more cases; returns the file and the new (id, ticket number) pairs."""
    data = json.loads(DEMO.read_text(encoding="utf-8"))
    template = next(r for r in data["records"]["incident"] if r["id"] == CASE_ID)
    made = []
    for i in range(count):
        rid, number = f"7c000000-0000-4000-8000-{i:012d}", f"CAS-9{i:04d}-TEST"
        data["records"]["incident"].append(dict(template, id=rid, ticketnumber=number, title=f"Load case {i}"))
        made.append((rid, number))
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path, made


NO_GRAPH = "http://127.0.0.1:9/v1.0"  # nothing listens: Graph calls (lifecycle licence checks) fail at once, locally


def notify_config(database_url: str, **overrides: Any) -> Config:
    return test_config(database_url, webhook_key=KEY, webhook_header=HEADER, **{"graph_base_url": NO_GRAPH,
                                                                                **overrides})


class Service:
    """A running app with a webhook key, plus the calls the notification tests make."""

    def __init__(self, running: Running, connector: FakeConnector) -> None:
        self.running, self.connector = running, connector
        self.url, self.bot = running.url, running.bot

    @classmethod
    async def start(cls, config: Config, connector: FakeConnector, http: aiohttp.ClientSession) -> Service:
        app, runner, url = await start_app(config)
        return cls(Running(app, runner, url, Bot(url, connector.url, http)), connector)

    async def stop(self) -> None:
        await self.running.runner.cleanup()

    async def webhook(self, body: Any, query: str | None = None, headers: dict[str, str] | None = None
                      ) -> tuple[int, Any]:
        url = f"{self.url}/api/dataverse/webhook" + (f"?code={KEY}" if query is None else query)
        data = body if isinstance(body, bytes | str) else json.dumps(body)
        async with self.bot.session.post(url, data=data, headers={"Content-Type": "application/json",
                                                                   **(headers or {})}) as resp:
            text = await resp.text()
            try:
                return resp.status, json.loads(text)
            except ValueError:
                return resp.status, text

    async def connect(self, conv: str, key: str = CASE) -> None:
        status, _ = await self.bot.say(f"connect case {key}", conv=conv)
        assert status == 200

    async def status(self) -> dict[str, Any]:
        async with self.bot.session.get(f"{self.url}/api/outbox/status") as resp:
            assert resp.status == 200
            body: dict[str, Any] = await resp.json()
            return body

    async def save_settings(self, change: Callable[[Any], Any]) -> None:
        """Change the stored settings the way the admin page would (through the settings store)."""
        from app import SERVICE
        service = self.running.app[SERVICE]
        settings, etag = await service.load_settings()
        await service.save_settings(change(settings), etag)


def update_cards(connector: FakeConnector, conv: str) -> list[dict[str, Any]]:
    return [c for c in connector.cards(conv) if " updated: " in json.dumps(c, ensure_ascii=False)]


async def eventually(condition: Callable[[], Awaitable[bool] | bool], within: float = 5.0) -> bool:
    """Poll until the condition holds or `within` seconds pass; the condition's last value."""
    deadline = time.monotonic() + within
    for _ in range(int(within / 0.02) + 1):
        result = condition()
        if await result if isinstance(result, Awaitable) else result:
            return True
        if time.monotonic() >= deadline:
            break
        await asyncio.sleep(0.02)
    return False


async def wait_cards(connector: FakeConnector, conv: str, count: int, within: float = 5.0) -> list[dict[str, Any]]:
    await eventually(lambda: len(update_cards(connector, conv)) >= count, within)
    return update_cards(connector, conv)


def texts(card: dict[str, Any]) -> str:
    """Every text of a card, TextRuns of one RichTextBlock joined into one line."""
    lines: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "RichTextBlock":
                lines.append("".join(i.get("text", "") for i in node.get("inlines", [])))
                return
            if node.get("type") == "TextBlock":
                lines.append(node.get("text", ""))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)
    walk(card)
    return "\n".join(lines)
