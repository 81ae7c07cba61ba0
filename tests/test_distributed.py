"""Data-parallel training: 2 CPU processes (gloo, via torchrun) == 1 process with the same global batch."""

import json
import os
import subprocess
import sys
from pathlib import Path

from safetensors.torch import load_file

from tests.conftest import write_synthetic_corpus

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ["model.dropout=0.0", "train.max_steps=6", "train.valid_every=6", "train.threads=1",
            "train.batch_tokens=256", "train.log_every=1"]


def _train(tmp_path: Path, run: str, launcher: list[str], *extra: str) -> Path:
    cfg = tmp_path / "cfg.yaml"
    if not cfg.exists():
        cfg.write_text(write_synthetic_corpus(tmp_path))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    args = [x for s in [*SETTINGS, *extra] for x in ("--set", s)]
    done = subprocess.run([*launcher, "-m", "nmt", "train", str(cfg), "--run-dir", str(tmp_path / run), *args],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    return tmp_path / run


def _losses(run: Path) -> list[float]:
    records = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in records if "loss" in r]


def test_two_gloo_processes_match_one_process_with_the_same_global_batch(tmp_path):
    single = _train(tmp_path, "single", [sys.executable], "train.accumulate=2")
    # same vocabulary for both runs: the test is about the gradients, not SentencePiece
    (tmp_path / "ddp").mkdir()
    (tmp_path / "ddp" / "spm.model").write_bytes((single / "spm.model").read_bytes())
    ddp = _train(tmp_path, "ddp", [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
                                   "--master_port=29533"])
    a = load_file(str(single / "checkpoints" / "last" / "model.safetensors"))
    b = load_file(str(ddp / "checkpoints" / "last" / "model.safetensors"))
    assert a.keys() == b.keys()
    worst = max(float((a[k] - b[k]).abs().max()) for k in a)
    assert worst < 1e-5, f"largest parameter difference {worst}"
    single_losses, ddp_losses = _losses(single), _losses(ddp)
    assert len(single_losses) == len(ddp_losses) == 6  # only rank 0 writes metrics
    assert all(abs(x - y) < 1e-5 for x, y in zip(single_losses, ddp_losses)), (single_losses, ddp_losses)
    assert single_losses[-1] < single_losses[0]  # it did train
