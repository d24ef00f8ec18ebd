"""Plain dicts describing record types for the API and the templates: attributes with what they support,
views with their first five columns marked supported or skipped."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from domain import rules
from domain.kinds import LOOKUP_TYPES
from domain.model import RecordType
from domain.notifications import notify_refusal
from domain.settings import OUT_OF_BOX_TYPES, Settings


def type_info(rtype: RecordType, settings: Settings) -> dict[str, Any]:
    default = rules.default_view(rtype)
    rts = settings.record_types.get(rtype.logical_name)
    refusal = notify_refusal(rtype)
    return {
        "logical_name": rtype.logical_name,
        "display_name": rtype.display_name,
        "out_of_box": rtype.logical_name in OUT_OF_BOX_TYPES,
        "configured": rts is not None,
        "enabled": bool(rts and rts.enabled),
        "virtual": rtype.virtual,
        "update_events": rtype.update_events,
        "notify_supported": refusal is None,
        "notify_refusal": refusal or "",
        "default_view": default.name if default else None,
        "attributes": [_attribute(rtype, name) for name in
                       sorted(rtype.attributes, key=lambda n: rtype.attributes[n].display_name.lower())],
        "views": [view_info(rtype, v.name) for v in rtype.views],
    }


def _attribute(rtype: RecordType, name: str) -> dict[str, Any]:
    attr = rtype.attributes[name]
    return {"name": name, "display_name": attr.display_name, "type": attr.type,
            "card_supported": attr.card_supported, "watch_supported": attr.watch_supported,
            "lookup": attr.type in LOOKUP_TYPES, "targets": list(attr.targets)}


def view_info(rtype: RecordType, name: str) -> dict[str, Any]:
    view = rtype.view(name)
    assert view is not None
    columns = []
    for column, supported in rules.view_columns(rtype, view):
        attr = rtype.attributes.get(column)
        columns.append({"name": column, "label": rtype.label(column), "type": attr.type if attr else "unknown",
                        "supported": supported})
    return {"name": view.name, "quick_find": view.quick_find,
            "default": view is rules.default_view(rtype), "columns": columns,
            "skipped": [c["label"] for c in columns if not c["supported"]],
            "more_columns": max(0, len(view.columns) - rules.CARD_FIELDS)}


def type_infos(types: Sequence[RecordType], settings: Settings) -> list[dict[str, Any]]:
    """Configured types first in the out-of-box order, then the rest by name."""
    order = {name: i for i, name in enumerate(OUT_OF_BOX_TYPES)}
    ranked = sorted(types, key=lambda t: (t.logical_name not in settings.record_types,
                                          order.get(t.logical_name, len(order)), t.display_name.lower()))
    return [type_info(t, settings) for t in ranked]
