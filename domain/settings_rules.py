"""Checks an admin's settings document before it is saved: first its JSON shape, then the spec's rules.

Every problem names the field (a dotted path into the document, e.g. `record_types.incident.watched`) so the
page can point at it. Pure functions: the record types come from the caller, nothing is fetched here."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from domain.kinds import LOOKUP_TYPES, RuleKind
from domain.lifecycle import join_problem, validate_lifecycle
from domain.lifecycle_policy import check_lifecycle_shape
from domain.model import RecordType
from domain.notifications import notify_refusal, validate_notify
from domain.profiles import ProfileSource
from domain.settings import MAX_CHAIN, MAX_RULES, RecordTypeSettings, Settings, from_dict
from domain.similar_settings import rule_problems, shape_problems

RULE_KINDS = tuple(RuleKind)
PROFILE_SOURCES = tuple(ProfileSource)
GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DEFAULT_PROFILE = "Default"
MAX_TEXT = 200
MAX_ITEMS = 500
_GLOBAL_BOOLS = ("teams_chat_enabled", "all_apps", "timeline_sync")
_GLOBAL_LISTS = ("enabled_apps", "known_apps", "disconnect_roles")
_TYPE_BOOLS = ("enabled", "auto_name", "include_note", "owner_can_disconnect", "connector_can_disconnect",
               "join_chat", "notify")


@dataclass(frozen=True)
class Problem:
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


class SettingsInvalid(Exception):
    def __init__(self, problems: Sequence[Problem]) -> None:
        super().__init__("; ".join(str(p) for p in problems))
        self.problems = list(problems)


def parse(data: Any, types: Mapping[str, RecordType]) -> Settings:
    """A submitted document -> Settings, or SettingsInvalid listing every problem (nothing is half-applied)."""
    problems = check_shape(data)
    if problems:
        raise SettingsInvalid(problems)
    # "" is what an empty <select> sends: the type's default view. A copy, so the caller's dict stays as sent.
    types_in = {name: {**raw, "view": None} if raw.get("view") == "" else raw
                for name, raw in data.get("record_types", {}).items()}
    settings = from_dict({**data, "record_types": types_in} if "record_types" in data else data)
    problems = validate(settings, types)
    if problems:
        raise SettingsInvalid(problems)
    return settings


# -- shape: the JSON types, before anything is built from them ---------------------------------------------

def _text_list(value: Any, where: str) -> list[Problem]:
    if not isinstance(value, list) or len(value) > MAX_ITEMS:
        return [Problem(where, f"must be a list of at most {MAX_ITEMS} texts")]
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip() or len(item) > MAX_TEXT:
            return [Problem(f"{where}[{i}]", f"must be a non-empty text of at most {MAX_TEXT} characters")]
    if len(set(value)) != len(value):
        return [Problem(where, "lists the same entry twice")]
    return []


def check_shape(data: Any) -> list[Problem]:
    if not isinstance(data, dict):
        return [Problem("settings", "must be a JSON object")]
    problems = [Problem(k, "must be true or false") for k in _GLOBAL_BOOLS
                if k in data and not isinstance(data[k], bool)]
    for key in _GLOBAL_LISTS:
        if key in data:
            problems += _text_list(data[key], key)
    profiles = data.get("profiles", {})
    if not isinstance(profiles, dict) or not all(isinstance(v, bool) for v in profiles.values()):
        problems.append(Problem("profiles", "must map each profile name to true or false"))
    problems += _org_profiles_shape(data)
    members = data.get("profile_members", {})
    if not isinstance(members, dict):
        problems.append(Problem("profile_members", "must map each profile name to a list of user ids"))
    else:
        for name, ids in members.items():
            problems += _text_list(ids, f"profile_members.{name}")
    types = data.get("record_types", {})
    if not isinstance(types, dict):
        return [*problems, Problem("record_types", "must map record type names to their settings")]
    for name, raw in types.items():
        problems += _type_shape(raw, f"record_types.{name}")
    return problems


def _org_profiles_shape(data: dict[str, Any]) -> list[Problem]:
    problems = []
    if "profile_source" in data and data["profile_source"] not in PROFILE_SOURCES:
        problems.append(Problem("profile_source", f"must be one of {', '.join(PROFILE_SOURCES)} (the page's own "
                                                  "profiles, or the org's agent experience profiles)"))
    chosen = data.get("org_profiles", {})
    if not isinstance(chosen, dict) or not all(isinstance(v, bool) for v in chosen.values()):
        return [*problems, Problem("org_profiles", "must map each agent experience profile id to true or false")]
    bad = next((k for k in chosen if not GUID.match(k)), None)
    if bad is not None:
        problems.append(Problem(f"org_profiles.{bad[:MAX_TEXT]}", "is not an agent experience profile id (a GUID)"))
    if len(chosen) > MAX_ITEMS:
        problems.append(Problem("org_profiles", f"at most {MAX_ITEMS} profiles"))
    return problems


def _type_shape(raw: Any, where: str) -> list[Problem]:
    if not isinstance(raw, dict):
        return [Problem(where, "must be an object")]
    problems = [Problem(f"{where}.{k}", "must be true or false") for k in _TYPE_BOOLS
                if k in raw and not isinstance(raw[k], bool)]
    if raw.get("view") is not None and not isinstance(raw["view"], str):
        problems.append(Problem(f"{where}.view", "must be a view name or null"))
    if "watched" in raw:
        problems += _text_list(raw["watched"], f"{where}.watched")
    problems += [Problem(f, m) for f, m in shape_problems(raw, where)]
    if "lifecycle" in raw:
        problems += [Problem(f, m) for f, m in check_lifecycle_shape(raw["lifecycle"], f"{where}.lifecycle")]
    rules = raw.get("contact_rules")
    if rules is None:
        return problems
    if not isinstance(rules, list):
        return [*problems, Problem(f"{where}.contact_rules", "must be a list of rules")]
    for i, rule in enumerate(rules):
        at = f"{where}.contact_rules[{i}]"
        if not isinstance(rule, dict) or not isinstance(rule.get("name"), str) or \
                not isinstance(rule.get("kind"), str):
            problems.append(Problem(at, 'needs a "name" and a "kind"'))
        elif "path" in rule and not (isinstance(rule["path"], list) and all(isinstance(s, str) for s in rule["path"])):
            problems.append(Problem(f"{at}.path", "must be a list of lookup attribute names"))
    return problems


# -- the spec's rules ------------------------------------------------------------------------------------

def validate(settings: Settings, types: Mapping[str, RecordType]) -> list[Problem]:
    problems = _apps_and_profiles(settings)
    for name, rts in settings.record_types.items():
        rtype = types.get(name)
        if rtype is None:
            known = ", ".join(sorted(types)) or "none"
            problems.append(Problem(f"record_types.{name}",
                                    f"unknown record type {name!r}; the record source knows: {known}"))
            continue
        problems += _type_rules(rtype, rts, types, f"record_types.{name}")
    return problems


def _apps_and_profiles(s: Settings) -> list[Problem]:
    problems = [Problem("enabled_apps", f"{app!r} is not in the list of apps (known_apps)")
                for app in s.enabled_apps if app not in s.known_apps][:1]
    if DEFAULT_PROFILE in s.profiles:
        problems.append(Problem(f"profiles.{DEFAULT_PROFILE}",
                                "the Default profile always follows the global switch; use another name"))
    seen: dict[str, str] = {}
    for profile, members in s.profile_members.items():
        if profile not in s.profiles:
            problems.append(Problem(f"profile_members.{profile}", f"no profile named {profile!r}"))
        for user in members:
            if user in seen and seen[user] != profile:
                problems.append(Problem(f"profile_members.{profile}",
                                        f"user {user!r} is also in profile {seen[user]!r}; a user has one profile"))
            seen[user] = profile
    return problems


def _type_rules(rtype: RecordType, rts: RecordTypeSettings, types: Mapping[str, RecordType],
                where: str) -> list[Problem]:
    problems = []
    if rts.view is not None and rtype.view(rts.view) is None:
        views = ", ".join(repr(v.name) for v in rtype.views) or "none"
        problems.append(Problem(f"{where}.view", f"{rtype.display_name} has no view {rts.view!r} (views: {views})"))
    problems += _watched(rtype, rts, where)
    problems += _lifecycle(rtype, rts, where)
    problems += _rules(rtype, rts, types, where)
    problems += [Problem(f, m) for f, m in rule_problems(rtype, rts, where)]
    return problems


def _watched(rtype: RecordType, rts: RecordTypeSettings, where: str) -> list[Problem]:
    """NOTIFY-01/03, with the notification planner's own rules (domain.notifications)."""
    if rts.notify and (why := notify_refusal(rtype)):
        return [Problem(f"{where}.notify", why)]
    return [Problem(f"{where}.watched", p) for p in validate_notify(rtype, rts.notify, rts.watched)][:1]


def _lifecycle(rtype: RecordType, rts: RecordTypeSettings, where: str) -> list[Problem]:
    """Issue 15's policy, with the lifecycle planner's own rules (domain.lifecycle)."""
    found = [Problem(f"{where}.lifecycle.{f}", m) for f, m in validate_lifecycle(rtype, rts.lifecycle)]
    if not found and (why := join_problem(rts.lifecycle, rts.join_chat, rtype.display_name.lower())):
        found.append(Problem(f"{where}.lifecycle.reassign_add", why))
    return found[:1]


def _rules(rtype: RecordType, rts: RecordTypeSettings, types: Mapping[str, RecordType],
           where: str) -> list[Problem]:
    at = f"{where}.contact_rules"
    if len(rts.contact_rules) > MAX_RULES:
        return [Problem(at, f"at most {MAX_RULES} suggested-contact rules, not {len(rts.contact_rules)}")]
    for i, rule in enumerate(rts.contact_rules):
        here = f"{at}[{i}]"
        if not rule.name.strip() or len(rule.name) > MAX_TEXT:
            return [Problem(f"{here}.name", f"a rule needs a name of 1 to {MAX_TEXT} characters")]
        if rule.kind not in RULE_KINDS:
            return [Problem(f"{here}.kind", f"{rule.kind!r} is not one of {', '.join(RULE_KINDS)}")]
        if rule.kind != "lookup" and rule.path:
            return [Problem(f"{here}.path", "only lookup rules have a path")]
        if rule.kind == RuleKind.LOOKUP and (why := chain_problem(rtype, rule.path, types)):
            return [Problem(f"{here}.path", why)]
    return []


def chain_problem(rtype: RecordType, path: Sequence[str], types: Mapping[str, RecordType]) -> str | None:
    """A lookup chain must be 1..10 lookups, each on the type the previous one points at, ending at a user."""
    if not path:
        return "a lookup rule needs at least one lookup attribute"
    if len(path) > MAX_CHAIN:
        return f"a lookup chain has at most {MAX_CHAIN} steps, not {len(path)}"
    current = [rtype]
    for i, step in enumerate(path, start=1):
        attr = next((t.attributes[step] for t in current if step in t.attributes), None)
        names = " or ".join(t.display_name for t in current)
        if attr is None:
            return f"step {i}: {names} has no attribute {step!r}"
        if attr.type not in LOOKUP_TYPES:
            return f"step {i}: {attr.display_name} ({step}) is a {attr.type}, not a lookup"
        if i == len(path):
            if attr.type == "Owner" or "systemuser" in attr.targets:
                return None
            return f"step {i}: the last lookup must point at a user, and {step!r} does not"
        current = [types[t] for t in attr.targets if t in types]
        if not current:
            return f"step {i}: {step!r} does not lead to a record type the source knows"
    return None


def sync_change_problem(old: Settings, new: Settings, global_admin: bool) -> Problem | None:
    """SYNC-01: only a global administrator may change timeline sync."""
    if old.timeline_sync != new.timeline_sync and not global_admin:
        return Problem("timeline_sync", "only a Microsoft Entra global administrator can change timeline sync")
    return None
