"""The Entra ID credential Microsoft Graph and Dataverse calls use, built only when one is configured.

Never azure-identity's full DefaultAzureCredential chain on its own: with nothing configured it probes the cloud
metadata endpoint (169.254.169.254) for a managed identity, which on a laptop is a slow, confusing probe and in a
locked-down network is flagged traffic. A managed identity is used only when asked for (USE_MANAGED_IDENTITY=1,
or MicrosoftAppType=UserAssignedMSI for the bot's own identity)."""
from __future__ import annotations

from enum import StrEnum
from typing import Any

NOT_CONFIGURED = ("Microsoft Graph is not configured for this app: an administrator must set AZURE_TENANT_ID, "
                  "AZURE_CLIENT_ID and AZURE_CLIENT_SECRET, or USE_MANAGED_IDENTITY=1.")


class CloudCredential(StrEnum):
    NONE = "none"  # no credential: no cloud calls at all
    ENVIRONMENT = "environment"  # AZURE_TENANT_ID + AZURE_CLIENT_ID + a secret, certificate or federated token
    MANAGED_IDENTITY = "managed-identity"
    BOT = "bot"  # the bot's own app registration (MicrosoftAppId/Password in MicrosoftAppTenantId)


def build(kind: CloudCredential, *, client_id: str = "", tenant_id: str = "", secret: str = "") -> Any:
    """An azure-identity async credential, or None for CloudCredential.NONE. Creating one makes no request."""
    if kind is CloudCredential.NONE:
        return None
    if kind is CloudCredential.MANAGED_IDENTITY:
        from azure.identity.aio import ManagedIdentityCredential
        return ManagedIdentityCredential(client_id=client_id or None)
    if kind is CloudCredential.BOT:
        from azure.identity.aio import ClientSecretCredential
        return ClientSecretCredential(tenant_id, client_id, secret)
    from azure.identity.aio import DefaultAzureCredential
    # Environment (secret or certificate) or workload identity only: developer sign-ins would give delegated
    # tokens, and managed identity is opt-in.
    return DefaultAzureCredential(
        exclude_managed_identity_credential=True, exclude_cli_credential=True,
        exclude_developer_cli_credential=True, exclude_powershell_credential=True,
        exclude_visual_studio_code_credential=True, exclude_shared_token_cache_credential=True,
        exclude_interactive_browser_credential=True)
