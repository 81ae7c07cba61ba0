"""Did a change slow the CPU down? The same decoding and training work, timed for the code in this checkout and
for the code at git revision REV (a worktree), in fresh processes taking turns, medians over rounds.

Decoding: the first N lines of a run's first test set, greedy and beam 5, through ``Translator`` (2 threads).
Training: S optimizer steps of the run's config on its own first batches (one warm-up step not timed).

    python scripts/bench_versions.py --baseline HEAD~1 --run runs/multi30k-en-de --out docs/bench_versions.json
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
DATA = os.environ.get("NMT_DATA") or ROOT.parent / "shared" / "data"  # the corpora, for either code

# run in a fresh process with the code under test first on sys.path; prints one JSON line of seconds
WORK = r"""
import itertools, json, sys, tempfile, time
from pathlib import Path
import torch
from rich.console import Console
torch.set_num_threads(2)
from nmt.config import load_config
from nmt.corpora import load_splits
from nmt.trainer import Trainer
from nmt.translate import Translator
run, lines, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
t = Translator.load(run, device="cpu")
d = t.cfg.data
test = next(iter(load_splits(d.corpus, d.src_lang, d.tgt_lang, d.root, None, None, d.test).tests.values()))
src = test.src[:lines]
out = {}
for beam in (1, 5):
    start = time.perf_counter()
    t(src, beam)
    out[f"decode_beam{beam}_s"] = time.perf_counter() - start
with tempfile.TemporaryDirectory() as scratch:
    torch.manual_seed(0)
    trainer = Trainer(load_config(Path(run) / "config.yaml", ["train.threads=2"]), Path(scratch),
                      Console(stderr=True, quiet=True))
    batches = [b for _, b in itertools.islice(trainer.epoch_batches(0), steps + 1)]
    trainer.train_step([batches[0]], batches[0].tgt_tokens)
    start = time.perf_counter()
    for b in batches[1:]:
        trainer.train_step([b], b.tgt_tokens)
    out["train_steps_s"] = time.perf_counter() - start
print(json.dumps(out))
"""


def measure(code: Path, run: str, lines: int, steps: int) -> dict[str, float]:
    env = dict(os.environ, PYTHONPATH=str(code), NMT_DATA=str(DATA))  # the corpora wherever the code is
    done = subprocess.run([sys.executable, "-c", WORK, run, str(lines), str(steps)], cwd=code, env=env,
                          capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"{code}: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--baseline", required=True, help="git revision to compare with")
    parser.add_argument("--run", required=True)
    parser.add_argument("--lines", type=int, default=500)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    run = str(Path(args.run).resolve())
    with tempfile.TemporaryDirectory() as folder:
        base = Path(folder) / "base"
        subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(base), args.baseline], check=True,
                       capture_output=True)
        try:
            codes = {"this checkout": ROOT, args.baseline: base}
            times: dict[str, dict[str, list[float]]] = {name: {} for name in codes}
            for round_ in range(args.rounds):
                for name in list(codes)[round_ % 2 :] + list(codes)[: round_ % 2]:  # order alternates
                    for key, seconds in measure(codes[name], run, args.lines, args.steps).items():
                        times[name].setdefault(key, []).append(seconds)
                    print(name, {k: round(v[-1], 2) for k, v in times[name].items()}, file=sys.stderr, flush=True)
        finally:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(base)], check=False)
    medians = {name: {key: round(statistics.median(v), 3) for key, v in by_key.items()}
               for name, by_key in times.items()}
    result = {"baseline": args.baseline, "run": args.run, "lines": args.lines, "steps": args.steps,
              "rounds": args.rounds, "seconds": times, "median_s": medians,
              "this_over_baseline_time": {key: round(medians["this checkout"][key] / medians[args.baseline][key], 3)
                                          for key in medians[args.baseline]}}
    report(result, args.out)


if __name__ == "__main__":
    main()
