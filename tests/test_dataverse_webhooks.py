"""records.register_webhooks registers the Dataverse webhook, its Update steps and images through the Web API
(against the fake Dataverse), idempotently, and refuses what Dataverse could not notify about."""
from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from records.register_webhooks import main
from tests.fake_dataverse import FakeDataverse
from tests.fake_dataverse_seed import demo_data

HOOK = "https://bot.example/api/dataverse/webhook"


@pytest.fixture
async def fake() -> AsyncIterator[FakeDataverse]:
    async with FakeDataverse(demo_data()[0]) as dv:
        yield dv


async def run(fake: FakeDataverse, *args: str) -> int:
    return await main(["--org", fake.url, "--url", HOOK, "--key", "s3cret", *args], env={"DATAVERSE_AUTH": "none"})


async def test_registers_endpoint_steps_and_images(fake: FakeDataverse, capsys: pytest.CaptureFixture[str]) -> None:
    """A webhook endpoint, then per type an async post-operation Update step filtered to the watched
    attributes, on that table's Update message filter, with pre- and post-images of the same attributes."""
    assert await run(fake, "--types", "incident,account", "--watch", "account=name,telephone1") == 0
    [endpoint] = fake.rows("serviceendpoint")
    assert (endpoint["contract"], endpoint["authtype"], endpoint["authvalue"], endpoint["url"],
            endpoint["messageformat"]) == (8, 4, "s3cret", HOOK, 2)
    steps = {s["name"]: s for s in fake.rows("sdkmessageprocessingstep")}
    case_step, account_step = steps["connected-chats: Update of incident"], steps["connected-chats: Update of account"]
    assert case_step["filteringattributes"] == "prioritycode,statecode,statuscode"
    assert account_step["filteringattributes"] == "name,telephone1"
    assert (case_step["stage"], case_step["mode"], case_step["eventhandler"].id) == (40, 1,
                                                                                   endpoint["serviceendpointid"])
    update = next(m for m in fake.rows("sdkmessage") if m["name"] == "Update")
    case_filter = next(f for f in fake.rows("sdkmessagefilter") if f["sdkmessagefilterid"] ==
                       case_step["sdkmessagefilterid"].id)
    assert (case_filter["primaryobjecttypecode"], case_filter["sdkmessageid"].id) == ("incident",
                                                                                     update["sdkmessageid"])
    images = [(i["imagetype"], i["entityalias"], i["messagepropertyname"], i["attributes"])
              for i in fake.rows("sdkmessageprocessingstepimage")
              if i["sdkmessageprocessingstepid"].id == case_step["sdkmessageprocessingstepid"]]
    assert sorted(images) == [(0, "PreImage", "Target", "prioritycode,statecode,statuscode"),
                              (1, "PostImage", "Target", "prioritycode,statecode,statuscode")]
    assert "incident: Update step watching prioritycode,statecode,statuscode" in capsys.readouterr().out


async def test_running_again_updates_instead_of_duplicating(fake: FakeDataverse) -> None:
    """A second run with other attributes and header auth changes the same endpoint, step and images."""
    assert await run(fake) == 0
    assert await run(fake, "--auth", "header", "--header", "x-teamsconnector-key",
                     "--watch", "incident=prioritycode,ownerid") == 0
    [endpoint] = fake.rows("serviceendpoint")
    assert endpoint["authtype"] == 5
    assert endpoint["authvalue"] == '<settings><setting name="x-teamsconnector-key" value="s3cret" /></settings>'
    [step] = fake.rows("sdkmessageprocessingstep")
    assert step["filteringattributes"] == "prioritycode,ownerid"
    assert sorted(i["attributes"] for i in fake.rows("sdkmessageprocessingstepimage")) == [
        "prioritycode,ownerid", "prioritycode,ownerid"]


@pytest.mark.parametrize(("args", "message"), [
    (["--watch", "incident=entityimage"], "Image columns cannot be watched"),
    (["--watch", "incident=numberofchildincidents"], "Integer columns cannot be watched"),
    (["--watch", "incident=nosuch"], "no attribute 'nosuch'"),
    (["--types", "account"], "pass --watch account="),
    (["--types", "spaceship"], "no table"),
    (["--watch", "incident=title,prioritycode,statecode,statuscode,ownerid,customerid"], "at most 5"),
    (["--url", "https://bot.example:8443/hook"], "443"),
])
async def test_refuses_what_cannot_be_watched(fake: FakeDataverse, capsys: pytest.CaptureFixture[str],
                                              args: list[str], message: str) -> None:
    """NOTIFY-03 and platform limits: the script stops with a message and registers nothing."""
    assert await run(fake, *args) == 2
    assert message in capsys.readouterr().err
    assert fake.rows("serviceendpoint") == [] and fake.rows("sdkmessageprocessingstep") == []


async def test_virtual_tables_are_refused(fake: FakeDataverse, capsys: pytest.CaptureFixture[str]) -> None:
    """A virtual table raises no update events, so no step is registered for it."""
    fake.tables["contact"].virtual = True
    assert await run(fake, "--types", "contact", "--watch", "contact=fullname") == 2
    assert "virtual tables" in capsys.readouterr().err


async def test_org_must_be_dataverse(capsys: pytest.CaptureFixture[str]) -> None:
    """Without a Dataverse org (RECORD_SOURCE is the local directory) the script says what is missing."""
    assert await main(["--url", HOOK, "--key", "k"], env={"RECORD_SOURCE": "local:x.json"}) == 2
    assert "local:x.json" in capsys.readouterr().err
