"""Training throughput of nmt on real batches: real (non-padding) target tokens per second.

    python scripts/bench_train.py --config configs/multi30k-en-de.yaml --steps 60 --out docs/bench_train.json

Builds the run's data and model exactly as `nmt train` does (tokenizer trained into a scratch run directory),
runs warm-up steps, then times windows of steps and reports the median.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from benchlib import report
from rich.console import Console

from nmt.config import load_config
from nmt.data import iterate_batches
from nmt.train import Trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/multi30k-en-de.yaml")
    parser.add_argument("--set", action="append", default=[], dest="overrides")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    cfg = load_config(args.config, args.overrides)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(cfg, Path(scratch), Console(stderr=True, quiet=True))
        batches = trainer.epoch_batches(0)
        stream = iterate_batches(trainer.src_ids, trainer.tgt_ids, batches)
        real = padded = 0
        for _ in range(args.warmup):
            _, b = next(stream)
            trainer.train_step([b], b.tgt_tokens)
        rates = []
        for _ in range(args.steps // args.window):
            tokens, start = 0, time.perf_counter()
            for _ in range(args.window):
                _, b = next(stream)
                trainer.train_step([b], b.tgt_tokens)
                tokens += b.tgt_tokens
                real += b.tgt_tokens
                padded += b.tgt_out.numel()
            rates.append(tokens / (time.perf_counter() - start))
    result = {
        "config": args.config, "overrides": args.overrides, "steps": args.steps, "window": args.window,
        "real_target_tokens_per_s_median": round(statistics.median(rates)),
        "real_target_tokens_per_s_windows": [round(r) for r in rates],
        "padding_fraction": round(1 - real / padded, 4),
        "parameters": trainer.model.num_parameters(),
        "torch": torch.__version__, "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
    }
    report(result, args.out)


if __name__ == "__main__":
    main()
