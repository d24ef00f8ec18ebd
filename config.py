"""Configuration from environment variables (names documented in the README)."""
from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from urllib.parse import urlparse

from auth.azure_credential import CloudCredential
from telemetry.setup import Options as TelemetryOptions

BF_OPENID = "https://login.botframework.com/v1/.well-known/openidconfiguration"
BF_ISSUER = "https://api.botframework.com"
BF_LOGIN = "https://login.microsoftonline.com/botframework.com"
BF_SCOPE = "https://api.botframework.com"
ENTRA_OPENID = "https://login.microsoftonline.com/common/v2.0/.well-known/openid-configuration"
DEFAULT_DATABASE_URL = "sqlite:///data/connected-chats.db"
APP_TYPES = ("MultiTenant", "SingleTenant", "UserAssignedMSI")
AUTH_MODES = ("azure", "none")
LOG_FORMATS = ("text", "json")
# Manifest build input -> environment variable. The bot id keeps the Bot Framework SDK's own spelling so one .env
# serves both.
MANIFEST_ENV = {
    "teams_app_id": "TEAMS_APP_ID",
    "bot_id": "MicrosoftAppId",
    "public_url": "PUBLIC_URL",
    "sso_client_id": "SSO_CLIENT_ID",
    "version": "APP_VERSION",
    "developer_name": "APP_DEVELOPER_NAME",
    "website_url": "APP_WEBSITE_URL",
    "privacy_url": "APP_PRIVACY_URL",
    "terms_url": "APP_TERMS_URL",
    "record_source": "RECORD_SOURCE",  # a Dataverse URL adds its host to the link-unfurling domains
}


# Azure Monitor's OpenTelemetry distro reads these from the process environment only; with Application Insights
# configured they are set unless the operator set them, so the SDK talks only to the connection string's endpoint.
AZURE_MONITOR_ENV = {
    # Its default resource detectors include azure_vm, which probes the metadata endpoint (169.254.169.254) on
    # every start; azure_app_service reads environment variables only (Container Apps and App Service).
    "OTEL_EXPERIMENTAL_RESOURCE_DETECTORS": "azure_app_service",
    # Statsbeat (the SDK's own usage reports) goes to a Microsoft endpoint the operator did not name...
    "APPLICATIONINSIGHTS_STATSBEAT_DISABLED_ALL": "true",
    # ...and so does the OneSettings control plane (settings.sdk.monitor.azure.com), fetched in the background.
    "APPLICATIONINSIGHTS_CONTROLPLANE_DISABLED": "true",
}


class ConfigError(ValueError):
    """An environment variable has a value the service cannot use; the message names it."""


class SourceKind(StrEnum):
    LOCAL = "local"  # the JSON directory: no webhook, so `set` reports its own changes
    DATAVERSE = "dataverse"


def _environ(env: Mapping[str, str] | None) -> dict[str, str]:
    return dict(os.environ if env is None else env)


def _choice(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ConfigError(f"{name} {value!r}: expected one of {', '.join(allowed)}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 65535:
        raise ConfigError(f"PORT {text!r}: expected a number from 1 to 65535")
    return int(text)


def _seconds(name: str, text: str, limit: float = 3600, note: str = "") -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= limit:
        raise ConfigError(f"{name} {text!r}: expected a number of seconds from 0 to {limit:g}{note}")
    return value


def manifest_values(env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The manifest build's inputs that are set in the environment (MANIFEST_ENV), by field name."""
    e = _environ(env)
    return {name: e[var] for name, var in MANIFEST_ENV.items() if e.get(var)}


def database_url(env: Mapping[str, str] | None = None) -> str:
    """DATABASE_URL alone (`python -m store migrate` needs nothing else)."""
    return (_environ(env).get("DATABASE_URL") or "").strip() or DEFAULT_DATABASE_URL


@dataclass(frozen=True)
class Config:
    host: str = "127.0.0.1"
    port: int = 3978
    database_url: str = DEFAULT_DATABASE_URL
    record_source: str = "local:" + str(Path(__file__).parent / "records" / "demo-directory.json")
    app_id: str = ""
    app_password: str = ""
    app_type: str = "MultiTenant"
    app_tenant_id: str = ""
    openid_url: str = BF_OPENID
    token_issuer: str = BF_ISSUER
    login_url: str = BF_LOGIN
    oauth_scope: str = BF_SCOPE
    graph_base_url: str = "https://graph.microsoft.com/v1.0"
    graph_auth: str = "azure"
    dataverse_auth: str = "azure"
    dataverse_record_types: tuple[str, ...] = ()
    # How long a user's agent experience profiles (read live from Dataverse) are kept: a change of assignment in
    # the Customer Service admin center applies within this many seconds.
    dataverse_profiles_ttl: float = 60.0
    public_url: str = ""
    allowed_tenants: frozenset[str] = field(default_factory=frozenset)
    teams_app_id: str = ""
    teams_app_catalog_id: str = ""
    sso_client_id: str = ""
    sso_audience: str = ""
    sso_openid_url: str = ENTRA_OPENID
    webhook_key: str = ""
    webhook_header: str = "x-teamsconnector-key"  # for HttpHeader webhook registrations (register_webhooks' default)
    dev_admin: bool = False
    # Delivery of key-update notifications (issue 17): committed work wakes the worker at once (in-process, and on
    # PostgreSQL other replicas by LISTEN/NOTIFY); the poll only catches what a wake-up missed. 0 = by database.
    outbox_poll: float = 0.0
    outbox_worker: bool = True
    # Not read from the environment: Microsoft's SDK refetches for an unknown key id at most hourly, we at most
    # once a minute; tests shorten it to exercise refetching without waiting.
    key_refetch_seconds: float = 60.0
    azure_env: bool = False  # AZURE_TENANT_ID + AZURE_CLIENT_ID + a secret, certificate or federated token file
    managed_identity: bool = False  # USE_MANAGED_IDENTITY=1
    azure_client_id: str = ""
    allow_unauthenticated_bind: bool = False  # ALLOW_UNAUTHENTICATED_BIND=1: local mode on a non-loopback HOST
    # Telemetry (off unless an exporter is configured): see telemetry/.
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    metrics_token: str = ""
    otlp_endpoint: str = ""
    appinsights_connection_string: str = ""
    log_format: str = "text"
    service_name: str = "connected-chats"
    dataverse_endpoint_name: str = "connected-chats"  # the webhook serviceendpoint register_webhooks made
    timeline_window: float = 5.0  # seconds: at most one timeline write per chat per window (issue 14)

    @property
    def local_mode(self) -> bool:
        """No app id: no token checks (Agents Playground, tests)."""
        return not self.app_id

    @property
    def telemetry(self) -> TelemetryOptions:
        """The exporters' options; with Application Insights, also its SDK's environment (AZURE_MONITOR_ENV)."""
        if self.appinsights_connection_string:
            for name, value in AZURE_MONITOR_ENV.items():
                os.environ.setdefault(name, value)
        return TelemetryOptions(service_name=self.service_name,
                                prometheus=bool(self.metrics_port or self.metrics_token),
                                otlp_endpoint=self.otlp_endpoint, appinsights=self.appinsights_connection_string)

    def _checked(self) -> Config:
        if self.metrics_port and self.metrics_port == self.port:
            raise ConfigError("METRICS_PORT must differ from PORT (or use METRICS_TOKEN for /metrics on PORT)")
        if self.metrics_token and len(self.metrics_token) < 16:
            raise ConfigError("METRICS_TOKEN must be at least 16 characters")
        if self.otlp_endpoint and not self.otlp_endpoint.startswith(("http://", "https://")):
            raise ConfigError("OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s):// URL (OTLP over HTTP)")
        return self

    @property
    def exposed_local_mode(self) -> bool:
        """Local mode (no token checks) listening beyond loopback: anyone reaching the port could make the bot act."""
        return self.local_mode and not _is_loopback(self.host)

    def bind_problem(self) -> str:
        """Why the service must not start with this configuration ('' when it may)."""
        if self.exposed_local_mode and not self.allow_unauthenticated_bind:
            return (f"MicrosoftAppId is empty (local mode: activities are not authenticated) and HOST={self.host} "
                    "is not a loopback address; set MicrosoftAppId, use HOST=127.0.0.1, or set "
                    "ALLOW_UNAUTHENTICATED_BIND=1 if a trusted proxy alone can reach this port")
        return ""

    @property
    def cloud_credential(self) -> CloudCredential:
        """Which credential Graph and Dataverse use; NONE (the default) means no cloud call is ever made."""
        if self.azure_env:
            return CloudCredential.ENVIRONMENT
        if self.managed_identity or (self.app_id and self.app_type == "UserAssignedMSI"):
            return CloudCredential.MANAGED_IDENTITY
        if self.app_id and self.app_password and self.app_tenant_id:
            return CloudCredential.BOT
        return CloudCredential.NONE

    @property
    def cloud_client_id(self) -> str:
        """The client id of the managed identity or app registration behind cloud_credential."""
        if self.cloud_credential is CloudCredential.MANAGED_IDENTITY and not self.managed_identity:
            return self.app_id  # MicrosoftAppType=UserAssignedMSI: the bot's own identity
        return self.azure_client_id if self.cloud_credential is not CloudCredential.BOT else self.app_id

    @property
    def source_kind(self) -> SourceKind:
        spec = self.record_source.strip()
        return SourceKind.LOCAL if spec == "local" or spec.startswith("local:") else SourceKind.DATAVERSE

    @property
    def token_url(self) -> str:
        base = self.login_url.rstrip("/")
        if self.app_type == "SingleTenant" and self.app_tenant_id and base == BF_LOGIN:
            base = f"https://login.microsoftonline.com/{self.app_tenant_id}"
        return base if base.endswith("/token") else f"{base}/oauth2/v2.0/token"

    @property
    def sso_expected_audience(self) -> str:
        host = urlparse(self.public_url).netloc
        return self.sso_audience or (f"api://{host}/{self.sso_client_id}" if self.sso_client_id else "")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Every environment variable the service reads; raises ConfigError naming a variable it can't use."""
        e = _environ(env)
        get = lambda name, default="": (e.get(name) or default).strip()  # noqa: E731
        host, port = get("HOST", "127.0.0.1"), _port(get("PORT", "3978"))
        return cls(
            host=host, port=port,
            database_url=database_url(e),
            record_source=get("RECORD_SOURCE", cls.record_source),
            app_id=get("MicrosoftAppId"), app_password=get("MicrosoftAppPassword"),
            app_type=_choice("MicrosoftAppType", get("MicrosoftAppType", "MultiTenant"), APP_TYPES),
            app_tenant_id=get("MicrosoftAppTenantId"),
            openid_url=get("TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL", BF_OPENID),
            token_issuer=get("TO_BOT_FROM_CHANNEL_TOKEN_ISSUER", BF_ISSUER),
            login_url=get("TO_CHANNEL_FROM_BOT_LOGIN_URL", BF_LOGIN),
            oauth_scope=get("TO_CHANNEL_FROM_BOT_OAUTH_SCOPE", BF_SCOPE),
            graph_base_url=get("GRAPH_BASE_URL", cls.graph_base_url).rstrip("/"),
            graph_auth=_choice("GRAPH_AUTH", get("GRAPH_AUTH", "azure").lower(), AUTH_MODES),
            dataverse_auth=_choice("DATAVERSE_AUTH", get("DATAVERSE_AUTH", "azure").lower(), AUTH_MODES),
            dataverse_record_types=tuple(t.strip().lower() for t in get("DATAVERSE_RECORD_TYPES").split(",")
                                         if t.strip()),
            dataverse_profiles_ttl=_seconds("DATAVERSE_PROFILES_TTL", get("DATAVERSE_PROFILES_TTL", "60")),
            public_url=get("PUBLIC_URL", f"http://{host}:{port}").rstrip("/"),
            allowed_tenants=frozenset(t.strip().lower() for t in get("ALLOWED_TENANT_IDS").split(",") if t.strip()),
            teams_app_id=get("TEAMS_APP_ID"), teams_app_catalog_id=get("TEAMS_APP_CATALOG_ID"),
            sso_client_id=get("SSO_CLIENT_ID") or get("MicrosoftAppId"), sso_audience=get("SSO_AUDIENCE"),
            sso_openid_url=get("SSO_OPENID_CONFIG_URL", ENTRA_OPENID),
            webhook_key=get("DATAVERSE_WEBHOOK_KEY"),
            webhook_header=get("DATAVERSE_WEBHOOK_HEADER", cls.webhook_header),
            dev_admin=get("DEV_LOCAL_ADMIN").lower() in ("1", "true", "yes"),
            outbox_poll=_seconds("OUTBOX_POLL_SECONDS", get("OUTBOX_POLL_SECONDS", "0"), 86400, " (0: the default)"),
            outbox_worker=_choice("OUTBOX_WORKER", get("OUTBOX_WORKER", "on").lower(), ("on", "off")) == "on",
            azure_env=bool(get("AZURE_TENANT_ID") and get("AZURE_CLIENT_ID") and (
                get("AZURE_CLIENT_SECRET") or get("AZURE_CLIENT_CERTIFICATE_PATH")
                or get("AZURE_FEDERATED_TOKEN_FILE"))),
            managed_identity=_flag("USE_MANAGED_IDENTITY", get("USE_MANAGED_IDENTITY")),
            azure_client_id=get("AZURE_CLIENT_ID"),
            allow_unauthenticated_bind=_flag("ALLOW_UNAUTHENTICATED_BIND", get("ALLOW_UNAUTHENTICATED_BIND")),
            metrics_port=_metrics_port(get("METRICS_PORT", "0")), metrics_host=get("METRICS_HOST", "127.0.0.1"),
            metrics_token=get("METRICS_TOKEN"), otlp_endpoint=get("OTEL_EXPORTER_OTLP_ENDPOINT"),
            appinsights_connection_string=get("APPLICATIONINSIGHTS_CONNECTION_STRING"),
            log_format=_choice("LOG_FORMAT", get("LOG_FORMAT", "text").lower(), LOG_FORMATS),
            service_name=get("OTEL_SERVICE_NAME", cls.service_name),
            timeline_window=_seconds("TIMELINE_ACTIVITY_WINDOW", get("TIMELINE_ACTIVITY_WINDOW", "5")),
            dataverse_endpoint_name=get("DATAVERSE_ENDPOINT_NAME", "connected-chats"),
        )._checked()

    def outbox_poll_seconds(self) -> float:
        """The fallback poll: short on SQLite (replicas sharing a file have no NOTIFY), long on PostgreSQL."""
        if self.outbox_poll > 0:
            return self.outbox_poll
        return 10.0 if self.database_url.startswith(("postgresql:", "postgres:")) else 1.0


def _flag(name: str, value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("", "0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} {value!r}: expected 1/true/yes or 0/false/no")


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a name: it may resolve to anything


def _metrics_port(value: str) -> int:
    if not value.isdigit() or int(value) > 65535:
        raise ConfigError(f"METRICS_PORT {value!r}: expected a number from 1 to 65535 (or nothing: off)")
    return int(value)
