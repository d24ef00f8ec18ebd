"""A fake OpenTelemetry collector: OTLP over HTTP/protobuf on 127.0.0.1 (/v1/traces, /v1/metrics, /v1/logs). It keeps
every raw request body (to search for what must never be exported) and decodes spans."""
from __future__ import annotations

from typing import Any

from aiohttp import web
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.servers import serve


class FakeCollector:
    def __init__(self) -> None:
        self.bodies: dict[str, list[bytes]] = {"traces": [], "metrics": [], "logs": []}
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _receive(self, request: web.Request) -> web.Response:
        self.bodies[request.match_info["signal"]].append(await request.read())
        return web.Response(body=b"", content_type="application/x-protobuf")

    def spans(self) -> list[tuple[str, dict[str, Any]]]:
        """(name, attributes) of every span received."""
        found = []
        for body in self.bodies["traces"]:
            request = ExportTraceServiceRequest()
            request.ParseFromString(body)
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        attributes = {a.key: _value(a.value) for a in span.attributes}
                        found.append((span.name, attributes))
        return found

    def raw(self) -> bytes:
        return b"".join(b for bodies in self.bodies.values() for b in bodies)

    async def start(self) -> FakeCollector:
        app = web.Application()
        app.router.add_post("/v1/{signal:traces|metrics|logs}", self._receive)
        self._runner, self.url = await serve(app)
        return self

    async def stop(self) -> None:
        if self._runner:
            await self._runner.cleanup()


def _value(value: Any) -> Any:
    kind = value.WhichOneof("value")
    return getattr(value, kind) if kind else None
