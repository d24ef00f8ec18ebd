"""Microsoft Graph adapter (plain HTTP, see graph/transport.py). `GraphGateway` is imported on first use."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graph.policy import GraphError, budget

if TYPE_CHECKING:
    from graph.gateway import GraphGateway

__all__ = ["GraphError", "GraphGateway", "budget"]


def __getattr__(name: str) -> Any:
    if name == "GraphGateway":
        from graph.gateway import GraphGateway

        return GraphGateway
    raise AttributeError(f"module 'graph' has no attribute {name!r}")
