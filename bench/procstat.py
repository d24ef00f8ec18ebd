"""CPU time and memory of a process tree from /proc (Linux), for CPU per turn and peak RSS."""

from __future__ import annotations

import os
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    # comm may contain spaces or parentheses; the fields after the last ')' start at `state` (field 3).
    return raw[raw.rfind(")") + 2 :].split()


def _children(pid: int) -> list[int]:
    kids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat_fields(int(entry.name))[1]) == pid:
                    kids.append(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # the process ended while we looked
    return kids


def tree(pid: int) -> list[int]:
    """The process and its descendants (a service may run workers)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(_children(p))
    return out


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process tree, in seconds."""
    total = 0
    for p in tree(pid):
        try:
            f = _stat_fields(p)
            total += int(f[11]) + int(f[12])
        except (OSError, IndexError, ValueError):
            continue
    return total / _TICK


def _status_kb(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def memory_mb(pid: int, key: str = "VmHWM") -> float:
    """VmHWM (peak resident) or VmRSS (current) summed over the process tree, in MB."""
    total = 0
    for p in tree(pid):
        try:
            total += _status_kb(p, key)
        except OSError:
            continue
    return total / 1024
