"""Which cloud credential the configuration selects: none on defaults, AZURE_* variables, an explicit managed
identity, or the bot's own single-tenant registration."""
from __future__ import annotations

import pytest

from auth.azure_credential import CloudCredential
from config import Config, ConfigError


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


@pytest.mark.parametrize(("env", "named"), [
    ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
    ({"METRICS_PORT": "http"}, "METRICS_PORT"),
    ({"METRICS_PORT": "3978"}, "METRICS_PORT"),  # the service's own port
    ({"METRICS_TOKEN": "short"}, "METRICS_TOKEN"),
    ({"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4317"}, "OTEL_EXPORTER_OTLP_ENDPOINT"),
    ({"ALLOW_UNAUTHENTICATED_BIND": "sure"}, "ALLOW_UNAUTHENTICATED_BIND"),
])
def test_unusable_telemetry_and_bind_settings_are_refused_by_name(env: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError, match=named):
        Config.from_env(env)


def test_telemetry_is_off_unless_an_exporter_is_configured() -> None:
    assert not Config.from_env({}).telemetry.wanted
    assert not Config.from_env({"LOG_FORMAT": "json", "OTEL_SERVICE_NAME": "x"}).telemetry.wanted
    for env in ({"METRICS_PORT": "9464"}, {"METRICS_TOKEN": "0123456789abcdef"},
                {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"},
                {"APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=x"}):
        assert Config.from_env(env).telemetry.wanted, env
