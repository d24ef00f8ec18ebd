"""The ranking of AI-suggested contacts (domain/similar.py): each of the four factors moves a person up, the reason
explains it without naming a case, the threshold cuts weak matches, and text of any kind becomes a safe query."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from domain.similar import MAX_TERMS, Hit, case_text, parse_when, plain_text, query_terms, rank, reason

NOW = datetime(2026, 12, 1, tzinfo=UTC)


def hit(user: str, score: float = 1.0, age: float = 10, took: float | None = 2, n: int = 0) -> Hit:
    resolved = NOW - timedelta(days=age)
    created = resolved - timedelta(days=took) if took is not None else None
    return Hit(f"{user}-{n}-{score}-{age}", user, score, resolved, created)


def order(hits: list[Hit], threshold: float = 0.0) -> list[str]:
    return [e.user_id for e in rank(hits, NOW, threshold)]


def test_more_similar_cases_rank_higher():
    assert order([hit("a", n=1), hit("b", n=1), hit("b", n=2)]) == ["b", "a"]


def test_more_similar_ranks_higher():
    assert order([hit("a", score=0.6), hit("b", score=1.0)]) == ["b", "a"]


def test_more_recent_ranks_higher():
    assert order([hit("a", age=400), hit("b", age=3)]) == ["b", "a"]


def test_faster_ranks_higher_all_else_equal():
    assert order([hit("a", took=9), hit("b", took=0.5)]) == ["b", "a"]


def test_ties_are_broken_by_user_id_and_the_result_is_deterministic():
    hits = [hit("b"), hit("a"), hit("c")]
    assert order(hits) == order(list(reversed(hits))) == ["a", "b", "c"]


def test_threshold_drops_weak_matches_relative_to_the_best():
    assert order([hit("a", score=10), hit("b", score=2)], threshold=0.25) == ["a"]
    assert order([hit("a", score=10), hit("b", score=3)], threshold=0.25) == ["a", "b"]


def test_eligible_filters_people_and_nothing_scored_means_nobody():
    assert [e.user_id for e in rank([hit("a"), hit("b")], NOW, 0, eligible={"b"})] == ["b"]
    assert rank([], NOW, 0) == [] and rank([hit("a", score=0)], NOW, 0) == []


def test_reason_counts_and_ages_only():
    [e] = rank([hit("a", age=6, took=2, n=i) for i in range(4)], NOW, 0)
    assert e.reason == "resolved 4 similar cases, latest 6 days ago, typically in 2 days"
    assert reason(1, 0, 0.3) == "resolved 1 similar case, latest today, typically within a day"
    assert reason(2, 1, 1.2) == "resolved 2 similar cases, latest 1 day ago, typically in 1 day"


def test_no_resolution_date_counts_without_age_or_speed():
    undated = Hit("x", "a", 1.0, None, NOW - timedelta(days=3))
    [e] = rank([undated], NOW, 0)
    assert (e.cases, e.latest_days, e.typical_days, e.reason) == (1, None, None, "resolved 1 similar case")


def test_html_rich_text_becomes_words():
    text = plain_text('<div><p>Printer <b>offline</b> &amp; queue</p><img src="x"><script>x</script></div>')
    assert text == "Printer offline & queue x"
    assert case_text({"title": "<i>A</i>", "description": None}, ["title", "description", "missing"]) == "A"


def test_query_terms_from_any_text_are_safe_and_bounded():
    assert query_terms("") == [] and query_terms("   ") == [] and query_terms("the and of 123 a") == []
    assert query_terms('"printer" OR NEAR(offline) AND * -x ^ {col}:y \x00') == ["printer", "offline", "near", "col"]
    long = " ".join(f"word{i}x" for i in range(10_000))
    assert len(query_terms(long)) == MAX_TERMS
    assert query_terms("Drucker druckt nicht, Papierstau") == ["papierstau", "drucker", "druckt", "nicht"]
    assert query_terms("Импресора не печатает") == ["импресора", "печатает", "не"]
    assert query_terms("プリンターがオフライン") == ["プリンターがオフライン"]


def test_dates_iso_or_dataverse_formatted_or_nothing():
    assert parse_when("2026-11-20T09:15:00Z") == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
    assert parse_when("11/20/2026 9:15 AM") == datetime(2026, 11, 20, 9, 15, tzinfo=UTC)
    assert parse_when("yesterday") is None and parse_when(None) is None and parse_when("") is None
