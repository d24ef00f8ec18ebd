"""Agent experience profiles (EN-03): which profiles decide, and whether a user's profiles give them Teams chats.

Two sources, one at a time (never an OR of both, like the disconnect grant): the settings page's own profiles
(members picked by name, stored in the settings), or the org's agent experience profiles (Dynamics 365's app
profiles, Customer Service admin center), whose members are read live from the CRM."""
from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum


class ProfileSource(StrEnum):
    PAGE = "page"  # the settings page's own profiles (any record source)
    ORG = "org"    # the org's agent experience profiles (Dataverse msdyn_appconfiguration)


@dataclass(frozen=True)
class OrgProfile:
    """An agent experience profile of the org (an app profile record)."""
    id: str
    name: str
    unique_name: str = ""
    app: str = ""  # the model-driven app's unique name the profile is for


def assignment_matters(choices: Mapping[str, bool]) -> bool:
    """Whether anyone's assignment can change the answer: only when some profile has Teams chats off."""
    return not all(choices.values())


def org_profiles_allow(choices: Mapping[str, bool], assigned: Collection[str]) -> bool:
    """EN-03 with the org's profiles. A user in no profile uses the default profile, which follows the global
    switch (checked before this). Dynamics 365 assigns one profile per app, so a user may hold several and we
    seldom know the app: as with the app set, the feature is on when at least one of the user's profiles has it
    on. A profile without a saved choice (made in Dynamics after the last save) follows the switch too."""
    if not assigned:
        return True
    return any(choices.get(profile, True) for profile in assigned)
