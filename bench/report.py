"""Per-round and summary tables (medians across rounds, throughput ratios to the two anchors)."""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, fields


@dataclass
class Measurement:
    target: str
    round: int
    ready_s: float
    rest_rss_mb: float
    sat_rps: float
    sat_p50_ms: float
    sat_p99_ms: float
    sat_errors: int
    fixed_p50_ms: float
    fixed_p99_ms: float
    fixed_max_ms: float
    fixed_errors: int
    fixed_late: int  # sends the open loop itself dispatched over 1 ms late (a busy machine, not the target)
    cpu_ms_per_turn: float
    peak_rss_mb: float
    delivered: float  # replies the fake connector received per activity in a 20-activity probe at 50/s
    invoke_p99_ms: float = math.nan  # only with --invoke-body
    invoke_errors: float = math.nan
    invoke_late: float = math.nan  # as fixed_late, for the invoke phase
    invoke_sat_rps: float = math.nan  # card-button invokes at saturation (answered inline, no post)
    invoke_cpu_ms: float = math.nan


_COLUMNS = [  # (header, attribute, format)
    ("ready s", "ready_s", "{:.2f}"),
    ("sat rps", "sat_rps", "{:.0f}"),
    ("sat p50", "sat_p50_ms", "{:.1f}"),
    ("sat p99", "sat_p99_ms", "{:.1f}"),
    ("sat err", "sat_errors", "{:.0f}"),
    ("fix p50", "fixed_p50_ms", "{:.1f}"),
    ("fix p99", "fixed_p99_ms", "{:.1f}"),
    ("fix max", "fixed_max_ms", "{:.1f}"),
    ("fix err", "fixed_errors", "{:.0f}"),
    ("fix late", "fixed_late", "{:.0f}"),
    ("CPU ms/turn", "cpu_ms_per_turn", "{:.2f}"),
    ("RSS rest MB", "rest_rss_mb", "{:.0f}"),
    ("RSS peak MB", "peak_rss_mb", "{:.0f}"),
    ("delivered", "delivered", "{:.2f}"),
    ("inv p99", "invoke_p99_ms", "{:.1f}"),
    ("inv err", "invoke_errors", "{:.0f}"),
    ("inv late", "invoke_late", "{:.0f}"),
    ("inv sat rps", "invoke_sat_rps", "{:.0f}"),
    ("inv CPU ms", "invoke_cpu_ms", "{:.2f}"),
]


def _columns(ms: list[Measurement]) -> list[tuple[str, str, str]]:
    """Leave out columns no measurement has (the invoke ones without --invoke-body)."""
    return [c for c in _COLUMNS if any(not math.isnan(getattr(m, c[1])) for m in ms)]


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    line = lambda cells: "| " + " | ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True)) + " |"  # noqa: E731
    return "\n".join([line(header), "|" + "|".join("-" * (w + 2) for w in widths) + "|", *map(line, rows)])


def rounds_table(ms: list[Measurement]) -> str:
    cols = _columns(ms)
    header = ["target", "round", *(h for h, _, _ in cols)]
    rows = [[m.target, str(m.round), *(f.format(getattr(m, a)) for _, a, f in cols)] for m in ms]
    return _table(header, rows)


def medians(ms: list[Measurement]) -> dict[str, Measurement]:
    out: dict[str, Measurement] = {}
    for name in dict.fromkeys(m.target for m in ms):
        group = [m for m in ms if m.target == name]
        values = {f.name: statistics.median(getattr(m, f.name) for m in group)
                  for f in fields(Measurement) if f.name not in ("target", "round")}
        out[name] = Measurement(target=name, round=len(group), **values)
    return out


def _ratio(value: float, anchor: Measurement | None) -> str:
    return f"{value / anchor.sat_rps:.2f}x" if anchor and anchor.sat_rps else "-"


def summary_table(ms: list[Measurement]) -> str:
    med = medians(ms)
    bare, stock = med.get("bare"), med.get("stock")
    cols = [c for c in _columns(ms) if c[1] != "sat_rps"]
    invokes = any(not math.isnan(m.invoke_sat_rps) for m in ms)
    # Invokes: against bare's own invoke answer (inline, no post) and against bare's message round trip.
    extra = ["inv x bare inv", "inv x bare msg"] if invokes else []
    header = ["target", "rounds", "sat rps", "x bare", "x stock", *(h for h, _, _ in cols), *extra]
    rows = []
    for m in med.values():
        cells = [f.format(getattr(m, a)) for _, a, f in cols]
        ratios = [_ratio(m.sat_rps, bare), _ratio(m.sat_rps, stock)]
        if invokes:
            inv_anchor = Measurement(**{**bare.__dict__, "sat_rps": bare.invoke_sat_rps}) if bare else None
            cells += [_ratio(m.invoke_sat_rps, inv_anchor), _ratio(m.invoke_sat_rps, bare)]
        rows.append([m.target, str(m.round), f"{m.sat_rps:.0f}", *ratios, *cells])
    return _table(header, rows)
