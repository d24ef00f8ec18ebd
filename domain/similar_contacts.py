"""The "Resolved similar cases" section: the open record's text -> similar resolved cases -> ranked people."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta

from domain.model import Record, RecordType, User
from domain.ports import RecordSource, SimilarCases
from domain.settings import RecordTypeSettings
from domain.similar import TOP_CASES, case_text, query_terms, rank

log = logging.getLogger(__name__)
BUDGET = 1.5  # seconds; past this the card goes out without the section rather than risk the invoke budget


class SimilarContacts:
    def __init__(self, engine: SimilarCases, records: RecordSource) -> None:
        self.engine = engine
        self.records = records

    async def people(self, rtype: RecordType, rts: RecordTypeSettings, record: Record,
                     at: datetime) -> list[tuple[User, str]]:
        """Active people ranked best first, each with the reason; [] when off, nothing similar, or too slow."""
        if not rts.similar_contacts or not rts.similar_fields:
            return []
        try:
            return await asyncio.wait_for(self._people(rtype, rts, record, at), BUDGET)
        except TimeoutError:
            log.warning("similar cases for %s %s took over %.1f s; section left out", rtype.logical_name,
                        record.id, BUDGET)
            return []

    async def _people(self, rtype: RecordType, rts: RecordTypeSettings, record: Record,
                      at: datetime) -> list[tuple[User, str]]:
        terms = query_terms(case_text(record.values, rts.similar_fields))
        since = at - timedelta(days=rts.similar_lookback_days)
        hits = await self.engine.search(rtype.logical_name, terms, record.id, since, TOP_CASES)
        out = []
        noun = "case" if rtype.logical_name == "incident" else "record"
        for expert in rank(hits, at, rts.similar_threshold, noun=noun):
            user = await self.records.user(expert.user_id)
            if user is not None and not user.disabled:  # people who left are never suggested
                out.append((user, expert.reason))
        return out
