"""Throttling: kiota's RetryHandler, held to the caller's time budget (graph.policy.budget)."""
from __future__ import annotations

import httpx
from kiota_http.middleware import RetryHandler
from kiota_http.middleware.options import RetryHandlerOption

import telemetry
from graph import policy


class BudgetRetryHandler(RetryHandler):
    """kiota's RetryHandler already retries 429/503/504 honouring Retry-After, with a bounded number of retries,
    but it knows no total time: it would sleep through any Retry-After up to 180 s, and with no header it adds the
    option's `delay` to every backoff. This keeps its logic, runs with delay 0, and gives up on a wait that would
    end past the caller's deadline, so the caller gets the 429 (and its Retry-After) in time to tell the user."""

    def __init__(self, attempts: int) -> None:
        super().__init__(RetryHandlerOption(delay=0.0, max_retries=attempts - 1))

    def get_delay_time(self, retry_count: int, response: httpx.Response | None = None,
                       delay: float = RetryHandlerOption.DEFAULT_DELAY) -> float:
        wanted = super().get_delay_time(retry_count, response, delay)
        return wanted if policy.wait_fits(wanted) else RetryHandlerOption.MAX_DELAY  # MAX_DELAY means "no retry"

    def should_retry(self, request: httpx.Request, options: RetryHandlerOption, response: httpx.Response) -> bool:
        # A POST that timed out at Graph's front door may have happened: creating the chat twice is worse than
        # asking the user to try again.
        if response.status_code in (429, 503):
            telemetry.cloud_throttled("graph", response.status_code)
        if response.status_code == 504 and request.method == "POST":
            return False
        return super().should_retry(request, options, response)
