"""LOG_FORMAT=json: one JSON object per line, with the activity id and operation id (the trace id when tracing is
on, else the Dataverse operation) for correlation. Messages are the service's own; none carries message text."""
from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime

from telemetry import ACTIVITY_ID, OPERATION_ID, S


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname, "logger": record.name, "message": record.getMessage()}
        if activity := ACTIVITY_ID.get():
            entry["activity_id"] = activity
        operation = OPERATION_ID.get()
        if S.on:
            from opentelemetry import trace

            context = trace.get_current_span().get_span_context()
            if context.is_valid:
                entry["operation_id"] = format(context.trace_id, "032x")
                entry["span_id"] = format(context.span_id, "016x")
        if operation and "operation_id" not in entry:
            entry["operation_id"] = operation
        if record.exc_info and record.exc_info[0] is not None:
            # The type and the stack, not the exception's message: that can quote what a user sent.
            entry["error"] = record.exc_info[0].__name__
            entry["stack"] = "".join(traceback.format_tb(record.exc_info[2]))
        return json.dumps(entry, ensure_ascii=False)


def configure(log_format: str, level: int = logging.INFO) -> None:
    """Root logging for `python app.py`: text (the default) or JSON lines on stderr."""
    # azure-core logs every request it sends at INFO (token endpoints, telemetry exports): noise, not operations.
    logging.getLogger("azure.core.pipeline.policies.http_logging_policy").setLevel(logging.WARNING)
    if log_format != "json":
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter())
    logging.basicConfig(level=level, handlers=[handler], force=True)
