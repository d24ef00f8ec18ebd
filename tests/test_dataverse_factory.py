"""RECORD_SOURCE and DATAVERSE_AUTH select and configure the record source, refusing unsafe or unusable
settings with a message that says what to write instead."""
from __future__ import annotations

import pytest

from config import Config
from records import SourceConfigError, open_source
from records.dataverse import DataverseRecordSource
from records.dataverse_http import AzureToken
from records.local import DEMO_PATH, LocalRecordSource


async def test_local_specs_open_the_directory(tmp_path: object) -> None:
    """local:<path> opens that file; bare `local` opens the demo directory."""
    assert isinstance(open_source(f"local:{DEMO_PATH}", "https://bot.example"), LocalRecordSource)
    demo = open_source("local", "https://bot.example")
    assert isinstance(demo, LocalRecordSource) and await demo.record_type("case") is not None


@pytest.mark.parametrize("spec", ["https://contoso.crm4.dynamics.com", "https://contoso.crm4.dynamics.com/",
                                  "dataverse:https://contoso.crm4.dynamics.com"])
async def test_https_org_url_uses_azure_identity_by_default(spec: str) -> None:
    """An https org URL selects Dataverse with an azure-identity token for <org>/.default."""
    source = open_source(spec, "https://bot.example")
    assert isinstance(source, DataverseRecordSource)
    assert source.org_url == "https://contoso.crm4.dynamics.com"
    token = source.client.token_source
    assert isinstance(token, AzureToken) and token.scope == "https://contoso.crm4.dynamics.com/.default"
    await source.close()


async def test_plain_http_only_for_loopback_without_auth() -> None:
    """http:// is refused unless DATAVERSE_AUTH=none and the host is the loopback interface."""
    with pytest.raises(SourceConfigError, match="https"):
        open_source("http://127.0.0.1:8080", "")
    with pytest.raises(SourceConfigError, match="https"):
        open_source("http://contoso.crm.dynamics.com", "", "none")
    source = open_source("http://127.0.0.1:8080", "", "none")
    assert isinstance(source, DataverseRecordSource) and source.client.token_source is None
    await source.close()


@pytest.mark.parametrize(("spec", "env", "message"), [
    ("ftp://contoso", {}, "expected local:"),
    ("contoso.crm.dynamics.com", {}, "expected local:"),
    ("https://contoso.crm.dynamics.com/api/data/v9.2", {}, "organization URL only"),
    ("https://contoso.crm.dynamics.com", {"DATAVERSE_AUTH": "password"}, "DATAVERSE_AUTH"),
])
def test_unusable_settings_are_refused_clearly(spec: str, env: dict[str, str], message: str) -> None:
    """Each mistake gets a message naming the setting and the expected form."""
    with pytest.raises(SourceConfigError, match=message):
        open_source(spec, "", env.get("DATAVERSE_AUTH", "azure"))


async def test_extra_record_types_from_the_environment() -> None:
    """DATAVERSE_RECORD_TYPES adds tables to the out-of-box ones, once each."""
    cfg = Config.from_env({"DATAVERSE_RECORD_TYPES": "msdyn_workorder, Incident ,"})
    source = open_source("https://contoso.crm.dynamics.com", "", extra_types=cfg.dataverse_record_types)
    assert isinstance(source, DataverseRecordSource)
    assert source.configured_types == ("incident", "account", "contact", "knowledgearticle", "email", "msdyn_workorder")
    await source.close()
