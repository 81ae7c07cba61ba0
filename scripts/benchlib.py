"""Shared by the bench_*.py scripts: print a result and write it as JSON; profile where time goes."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch


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


def matmul_peak(device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32, size: int = 2048,
                repeats: int = 10) -> float:
    """GFLOP/s of a large square matmul on ``device`` in ``dtype``: the machine's practical peak, which model FLOPs
    utilisation is measured against (at torch's current thread count on a CPU)."""
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else (lambda: None)
    for _ in range(3):
        a @ b
    rates = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        a @ b
        sync()
        rates.append(2 * size**3 / (time.perf_counter() - start) / 1e9)
    return statistics.median(rates)
