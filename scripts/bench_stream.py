"""Memory of streaming translation: peak RSS of `nmt translate -i FILE -o OUT` on inputs of different lengths.

The model is a tiny run trained here on the synthetic task, decoding batches of 256 lines with outputs cut at 4
tokens: the streaming path is what is measured, not the model, and this keeps a 1,000,000-line input to minutes.
Each size runs in a fresh process; peak RSS is the kernel's maximum resident set size of that process (``wait4``).
With ``--baseline REV``, the same is measured for the code at git revision REV (a worktree), e.g. the last commit
that read the whole input first.

    python scripts/bench_stream.py --lines 10000 1000000 --out docs/bench_stream.json
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MAX_LEN = 4  # output tokens (</s> included): decoding stays cheap, the file handling is what grows with the input


def make_run(folder: Path) -> Path:
    """A tiny run (preset tiny, 60 steps) on a made-up corpus of words w0..w29."""
    rng = random.Random(0)
    words = [f"w{i}" for i in range(30)]
    for name, count in (("train", 2000), ("valid", 50)):
        src = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 9))) for _ in range(count)]
        (folder / f"{name}.en").write_text("\n".join(src) + "\n")
        (folder / f"{name}.de").write_text("\n".join(" ".join(reversed(s.split())) for s in src) + "\n")
    cfg = folder / "cfg.yaml"
    cfg.write_text(f"name: stream\npreset: tiny\ntokenizer:\n  vocab_size: 100\ndata:\n  corpus: null\n"
                   f"  train: {folder}/train\n  valid: {folder}/valid\ntrain:\n  max_steps: 60\n  valid_every: 60\n")
    subprocess.run([sys.executable, "-m", "nmt", "train", str(cfg), "--run", str(folder / "run")], check=True,
                   capture_output=True)
    return folder / "run"


def make_input(path: Path, lines: int) -> None:
    rng = random.Random(1)
    words = [f"w{i}" for i in range(30)]
    with path.open("w") as out:
        for _ in range(lines):
            out.write(" ".join(rng.choice(words) for _ in range(rng.randint(2, 9))) + "\n")


def measure(code: Path, run: Path, src: Path, out: Path, beam: int) -> dict:
    """Peak RSS (MiB) and wall time of one `nmt translate` process running the code in ``code``."""
    env = dict(os.environ, PYTHONPATH=str(code))
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "nmt", "translate", "--run", str(run), "--device", "cpu",
                             "-b", str(beam), "--batch-size", "256", "--set", "decode.max_len_a=0", "--set",
                             f"decode.max_len_b={MAX_LEN}", "-i", str(src), "-o", str(out)], cwd=code, env=env,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - start
    err = proc.stderr.read().decode()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"nmt translate failed: {err}")
    lines = sum(1 for _ in out.open())
    return {"lines": lines, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1), "seconds": round(seconds, 1),
            "sentences_per_s": round(lines / seconds, 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--beam", type=int, default=1)
    parser.add_argument("--baseline", help="also measure the code at this git revision")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        run = make_run(folder)
        codes = {"this tree": ROOT}
        if args.baseline:
            subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(folder / "base"),
                            args.baseline], check=True, capture_output=True)
            codes[args.baseline] = folder / "base"
        results = []
        try:
            for n in args.lines:
                src = folder / f"in-{n}.txt"
                make_input(src, n)
                for name, code in codes.items():
                    row = {"code": name, **measure(code, run, src, folder / "out.txt", args.beam)}
                    print(row, file=sys.stderr)
                    results.append(row)
                src.unlink()
        finally:
            if args.baseline:
                subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(folder / "base")])
    report({"benchmark": "stream", "model": "tiny preset (d_model 64), 60 steps on a synthetic task",
            "beam": args.beam, "batch_size": 256, "max_output_tokens": MAX_LEN, "results": results}, args.out)


if __name__ == "__main__":
    main()
