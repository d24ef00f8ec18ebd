"""Which cloud credential the configuration selects: none on defaults, AZURE_* variables, an explicit managed
identity, or the bot's own single-tenant registration."""
from __future__ import annotations

import pytest

from auth.azure_credential import CloudCredential
from config import Config


@pytest.mark.parametrize(("env", "kind", "client_id"), [
    ({}, CloudCredential.NONE, ""),
    ({"AZURE_CLIENT_ID": "c"}, CloudCredential.NONE, ""),  # an id alone is no credential
    ({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_CLIENT_SECRET": "s"}, CloudCredential.ENVIRONMENT, "c"),
    ({"AZURE_TENANT_ID": "t", "AZURE_CLIENT_ID": "c", "AZURE_FEDERATED_TOKEN_FILE": "/f"},
     CloudCredential.ENVIRONMENT, "c"),
    ({"USE_MANAGED_IDENTITY": "1"}, CloudCredential.MANAGED_IDENTITY, ""),
    ({"USE_MANAGED_IDENTITY": "true", "AZURE_CLIENT_ID": "mi"}, CloudCredential.MANAGED_IDENTITY, "mi"),
    ({"MicrosoftAppId": "bot", "MicrosoftAppType": "UserAssignedMSI"}, CloudCredential.MANAGED_IDENTITY, "bot"),
    ({"MicrosoftAppId": "bot", "MicrosoftAppPassword": "p"}, CloudCredential.NONE, ""),  # multi-tenant: no tenant
    ({"MicrosoftAppId": "bot", "MicrosoftAppPassword": "p", "MicrosoftAppTenantId": "t"}, CloudCredential.BOT, "bot"),
])
def test_cloud_credential_selection(env: dict[str, str], kind: CloudCredential, client_id: str) -> None:
    config = Config.from_env(env)
    assert config.cloud_credential is kind
    if kind is not CloudCredential.NONE:
        assert config.cloud_client_id == client_id


def test_a_flag_that_is_not_a_yes_or_no_is_refused() -> None:
    with pytest.raises(ValueError, match=r"USE_MANAGED_IDENTITY .maybe.: expected"):
        Config.from_env({"USE_MANAGED_IDENTITY": "maybe"})
