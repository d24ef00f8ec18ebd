"""The admin's settings (the "Teams collaboration and chat" page) with the spec's defaults."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any

from domain.lifecycle_policy import OFF as LIFECYCLE_OFF
from domain.lifecycle_policy import LifecyclePolicy, lifecycle_defaults, lifecycle_from_dict
from domain.profiles import ProfileSource

DEFAULT_DISCONNECT_ROLES = (
    "System Administrator", "CSR Manager", "Customer Service Representative",
    "Omnichannel administrator", "Omnichannel supervisor", "Omnichannel agent",
)
OUT_OF_BOX_TYPES = ("incident", "account", "contact", "knowledgearticle", "email")
DEFAULT_APPS = ("Customer Service workspace", "Customer Service Hub", "Contact Center workspace")
MAX_WATCHED = 5
MAX_RULES = 10
MAX_CHAIN = 10


@dataclass(frozen=True)
class ContactRule:
    """A suggested-contact rule. kind: owner | team_admin | team_members | connectors | lookup."""
    name: str
    kind: str
    path: tuple[str, ...] = ()  # for kind=lookup: the chain of lookup attributes, last one points at a user


OUT_OF_BOX_RULES = (
    ContactRule("Record owner", "owner"),
    ContactRule("Owning team administrator", "team_admin"),
    ContactRule("Owning team member", "team_members"),
    ContactRule("Connected a chat to this record", "connectors"),
    ContactRule("Logged activity on this record", "activity"),
)


@dataclass(frozen=True)
class RecordTypeSettings:
    enabled: bool = True
    auto_name: bool = False
    include_note: bool = False
    view: str | None = None
    owner_can_disconnect: bool = True
    connector_can_disconnect: bool = True
    join_chat: bool = False
    notify: bool = False
    watched: tuple[str, ...] = ()
    contact_rules: tuple[ContactRule, ...] = OUT_OF_BOX_RULES
    # AI-suggested contacts (domain/similar.py): the "Resolved similar cases" section.
    similar_contacts: bool = False
    similar_fields: tuple[str, ...] = ("title", "description")
    similar_lookback_days: int = 730
    similar_threshold: float = 0.1  # similarity relative to the best match, 0..1
    similar_first: bool = False  # the section before the rules-based sections (else after)
    lifecycle: LifecyclePolicy = LIFECYCLE_OFF  # issue 15: reassignment, resolution, reopening


CASE_DEFAULTS = RecordTypeSettings(auto_name=True, include_note=True, view="Case introduction message",
                                   join_chat=True, notify=True, similar_contacts=True,
                                   watched=("prioritycode", "statecode", "statuscode"),
                                   lifecycle=lifecycle_defaults("incident"))


def defaults_for(record_type: str) -> RecordTypeSettings:
    return CASE_DEFAULTS if record_type == "incident" else RecordTypeSettings()


@dataclass(frozen=True)
class Settings:
    teams_chat_enabled: bool = True
    all_apps: bool = False
    enabled_apps: tuple[str, ...] = DEFAULT_APPS
    known_apps: tuple[str, ...] = (*DEFAULT_APPS, "Sales Hub", "Field Service")
    # Profile name -> on/off; users in no listed profile use the "Default" profile, which follows the switch.
    profiles: dict[str, bool] = field(default_factory=dict)
    profile_members: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # Which profiles decide (domain/profiles.py): the page's own above, or the org's agent experience profiles,
    # chosen by id (Dataverse msdyn_appconfigurationid -> on/off) with members read live from the CRM.
    profile_source: str = ProfileSource.PAGE
    org_profiles: dict[str, bool] = field(default_factory=dict)
    disconnect_roles: tuple[str, ...] = DEFAULT_DISCONNECT_ROLES
    timeline_sync: bool = False
    record_types: dict[str, RecordTypeSettings] = field(
        default_factory=lambda: {t: defaults_for(t) for t in OUT_OF_BOX_TYPES})

    def for_type(self, record_type: str) -> RecordTypeSettings | None:
        """Settings of a configured, enabled type; None when agents may not connect chats to it."""
        rts = self.record_types.get(record_type)
        return rts if rts and rts.enabled else None

    def with_type(self, record_type: str, rts: RecordTypeSettings) -> Settings:
        return replace(self, record_types={**self.record_types, record_type: rts})

    def app_enabled(self, app: str | None) -> bool:
        """EN-02. Where Teams does not say which app the agent works in (app None), the set of apps counts as a
        whole: on when it is on for all apps or for at least one app."""
        if not self.teams_chat_enabled:
            return False
        if app is None:
            return self.all_apps or bool(self.enabled_apps)
        return self.all_apps or app in self.enabled_apps

    def user_enabled(self, user_id: str) -> bool:
        """EN-03 with the page's own profiles: a user in a profile gets the feature only where that profile has it
        on. (With the org's profiles, ChatService asks the CRM who is in which: domain/profiles.py.)"""
        if not self.teams_chat_enabled:
            return False
        for profile, members in self.profile_members.items():
            if user_id in members and profile in self.profiles:
                return self.profiles[profile]
        return True


def to_dict(settings: Settings) -> dict[str, Any]:
    data = asdict(settings)
    for rts in data["record_types"].values():
        rts["watched"] = list(rts["watched"])
        rts["similar_fields"] = list(rts["similar_fields"])
        rts["contact_rules"] = [dict(r, path=list(r["path"])) for r in rts["contact_rules"]]
    for key in ("enabled_apps", "known_apps", "disconnect_roles"):
        data[key] = list(data[key])
    data["profile_members"] = {k: list(v) for k, v in data["profile_members"].items()}
    return data


def from_dict(data: dict[str, Any]) -> Settings:
    """Build settings from stored or submitted JSON; unknown keys are ignored, missing ones default."""
    base = Settings()
    types = {}
    for name, raw in (data.get("record_types") or {}).items():
        start = defaults_for(name)
        rules = raw.get("contact_rules")
        types[name] = replace(
            start,
            **{k: v for k, v in raw.items() if k in _RTS_SCALARS},
            watched=tuple(raw.get("watched", start.watched)),
            similar_fields=tuple(raw.get("similar_fields", start.similar_fields)),
            contact_rules=start.contact_rules if rules is None else tuple(
                ContactRule(r["name"], r["kind"], tuple(r.get("path", ()))) for r in rules),
            lifecycle=lifecycle_from_dict(raw.get("lifecycle"), start.lifecycle),
        )
    return Settings(
        teams_chat_enabled=bool(data.get("teams_chat_enabled", base.teams_chat_enabled)),
        all_apps=bool(data.get("all_apps", base.all_apps)),
        enabled_apps=tuple(data.get("enabled_apps", base.enabled_apps)),
        known_apps=tuple(data.get("known_apps", base.known_apps)),
        profiles={str(k): bool(v) for k, v in (data.get("profiles") or {}).items()},
        profile_members={str(k): tuple(v) for k, v in (data.get("profile_members") or {}).items()},
        profile_source=str(data.get("profile_source") or base.profile_source),
        org_profiles={str(k).lower(): bool(v) for k, v in (data.get("org_profiles") or {}).items()},
        disconnect_roles=tuple(data.get("disconnect_roles", base.disconnect_roles)),
        timeline_sync=bool(data.get("timeline_sync", base.timeline_sync)),
        record_types=types if "record_types" in data else base.record_types,
    )


_RTS_SCALARS = {"enabled", "auto_name", "include_note", "view", "owner_can_disconnect",
                "connector_can_disconnect", "join_chat", "notify",
                "similar_contacts", "similar_lookback_days", "similar_threshold", "similar_first"}
