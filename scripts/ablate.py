"""The ablation behind docs/quality.md: train variants of a recipe one after another at one time budget, then score
each on the validation set (never a test set) with beam search, per checkpoint and length penalty.

    python scripts/ablate.py configs/multi30k-en-de.yaml --minutes 15 --out docs/ablation-multi30k-en-de.json \
        --variant "today" \
        --variant "cosine train.schedule=cosine"

A variant is a name and ``--set`` overrides; ``--score-run RUN --alphas 0.6 1.0`` scores a finished run (say, a
recipe's) at several length penalties without training. Runs go to runs/abl-NAME; a finished run is scored again, not
retrained, so the script can be re-run to add variants. Only one timed thing should run on the machine meanwhile.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
from benchlib import report  # noqa: E402


def train(config: str, name: str, overrides: list[str], minutes: float, runs_root: Path) -> float | None:
    """Train runs/abl-NAME within ``minutes`` (schedules plan their step count from it); None if already done."""
    run = runs_root / f"abl-{name}"
    if (run / "checkpoints" / "last").exists():
        return None
    budget = [f"name=abl-{name}", f"runs_root={runs_root}", "train.max_steps=0", "train.max_epochs=0",
              f"train.max_minutes={minutes}", "train.patience=0"]
    command = [sys.executable, "-m", "nmt", "train", config]
    for override in budget + overrides:
        command += ["--set", override]
    started = time.monotonic()
    subprocess.run(command, check=True)
    return (time.monotonic() - started) / 60


def validation_bleu(run: Path, checkpoint: str, beam: int, alphas: list[float]) -> dict[str, float]:
    """Beam-search BLEU on the run's validation set per GNMT length penalty."""
    from nmt.corpora import load_splits
    from nmt.evaluate import score
    from nmt.translate import Translator

    translator = Translator.load(run, checkpoint)
    d = translator.cfg.data
    valid = load_splits(d.corpus, d.src_lang, d.tgt_lang, d.root, None, d.valid).valid
    assert valid is not None, f"{run}: no validation set"
    out = {}
    for alpha in alphas:
        hyps = [nbest[0][0] for nbest in translator.translate(valid.src, beam, length_penalty=alpha)]
        out[str(alpha)] = score(hyps, valid.tgt, d.tgt_lang, ("bleu",))["bleu"]["score"]
    return out


def phrases(run: Path, checkpoint: str, beam: int, alpha: float) -> dict[str, Any] | None:
    """The run's phrase check set (data.phrases) with beam search, or None when it has none."""
    from nmt.phrases import phrase_score, read_phrases
    from nmt.translate import Translator

    translator = Translator.load(run, checkpoint)
    if not translator.cfg.data.phrases:
        return None
    return phrase_score(lambda lines: [n[0][0] for n in translator.translate(lines, beam, length_penalty=alpha)],
                        read_phrases(translator.cfg.data.phrases))


def scores(run: Path, checkpoints: list[str], beam: int, alphas: list[float]) -> dict[str, dict[str, float]]:
    """validation_bleu of each of ``checkpoints``, and of `averaged` where the run has one."""
    if (run / "checkpoints" / "averaged").exists():
        checkpoints = [*checkpoints, "averaged"]
    return {c: validation_bleu(run, c, beam, alphas) for c in checkpoints}


def with_phrases(entry: dict[str, Any], run: Path, beam: int, alpha: float) -> dict[str, Any]:
    """``entry`` with the phrase score of the run's `best` checkpoint, where the run has a phrase set."""
    found = phrases(run, "best", beam, alpha)
    if found is not None:
        entry["phrases"] = found
    return entry


def summary(run: Path) -> dict[str, Any]:
    """Steps, epochs and the greedy validation BLEU curve from the run's metrics.jsonl."""
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    valid = [r for r in records if "valid_bleu" in r]
    return {"steps": records[-1]["step"], "epochs": records[-1]["epoch"],
            "greedy_valid_bleu": [(r["step"], r["valid_bleu"]) for r in valid]}


def table(results: dict[str, dict[str, Any]]) -> str:
    """docs/quality.md's table: one row per variant, validation BLEU (beam) of each checkpoint at each alpha."""
    rows = ["| variant | overrides | steps | epochs | minutes | greedy valid BLEU (last validation) "
            "| beam valid BLEU: best | last | averaged |",
            "| --- | --- | ---: | ---: | ---: | ---: | --- | --- | --- |"]
    for name, r in results.items():
        cells = [" / ".join(f"{b:.2f}" + ("" if len(scores) == 1 else f" (α {a})") for a, b in scores.items())
                 for scores in (r["valid_bleu"].get(c, {}) for c in ("best", "last", "averaged"))]
        rows.append(f"| {name} | {' '.join(f'`{o}`' for o in r['overrides']) or '(the recipe file)'} | {r['steps']} "
                    f"| {r['epochs']} | {r.get('wall_minutes', '')} | {r['greedy_valid_bleu'][-1][1]:.2f} | "
                    + " | ".join(c or "–" for c in cells) + " |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", help="the recipe the variants change (not needed with --table)")
    parser.add_argument("--minutes", type=float, default=15, help="train.max_minutes of every variant")
    parser.add_argument("--variant", action="append", default=[], help='"NAME key=value ..." (--set overrides)')
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.6], help="length penalties to score")
    parser.add_argument("--runs-root", type=Path, default=ROOT / "runs")
    parser.add_argument("--out", type=Path, required=True, help="JSON file; existing variants in it are kept")
    parser.add_argument("--score-run", type=Path, action="append", default=[],
                        help="also score this finished run as it is (e.g. a recipe's run, for length penalties)")
    parser.add_argument("--table", action="store_true", help="print --out as a Markdown table and stop")
    args = parser.parse_args()
    if args.table:
        print(table(json.loads(args.out.read_text())))
        return
    if args.variant and args.config is None:
        parser.error("give the recipe CONFIG the variants change")

    results = json.loads(args.out.read_text()) if args.out.exists() else {}
    for spec in args.variant:
        name, *overrides = shlex.split(spec)
        minutes = train(args.config, name, overrides, args.minutes, args.runs_root)
        run = args.runs_root / f"abl-{name}"
        entry = results.get(name, {})
        if minutes is not None:
            entry = {"wall_minutes": round(minutes, 2)}
        entry.update(config=args.config, overrides=overrides, budget_minutes=args.minutes, **summary(run),
                     valid_bleu=scores(run, ["best", "last"], args.beam, args.alphas), beam=args.beam)
        results[name] = with_phrases(entry, run, args.beam, args.alphas[-1])
        report(results, args.out)
    for run in args.score_run:
        entry = {"config": str(run / "config.yaml"), "overrides": [], **summary(run), "beam": args.beam,
                 "valid_bleu": scores(run, ["best"], args.beam, args.alphas)}
        results[run.name] = with_phrases(entry, run, args.beam, args.alphas[-1])
        report(results, args.out)


if __name__ == "__main__":
    main()
