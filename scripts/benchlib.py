"""Shared by the bench_*.py scripts: print a result and write it as JSON; profile where time goes."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any


def report(result: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(result, indent=2)
    print(text)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n", encoding="utf-8")


def top_ops(fn: Callable[[], object], repeats: int, warmup: int = 1, top: int = 15) -> dict:
    """Where ``fn``'s time goes: torch.profiler over ``repeats`` calls, the ``top`` operators by self CPU time,
    per call (backward operators run inside ...Backward0 nodes; the profiler itself adds a little per op)."""
    from torch.profiler import profile

    for _ in range(warmup):
        fn()
    with profile() as prof:
        for _ in range(repeats):
            fn()
    events = sorted(prof.key_averages(), key=lambda e: -e.self_cpu_time_total)
    total = sum(e.self_cpu_time_total for e in events)
    return {"ms_per_call": round(total / repeats / 1e3, 1),
            "top": [{"op": e.key, "ms_per_call": round(e.self_cpu_time_total / repeats / 1e3, 2),
                     "share": round(e.self_cpu_time_total / total, 3), "calls": e.count // repeats}
                    for e in events[:top]]}
