"""The training loop: where it stops and why, what runs under autocast, and signals before training starts."""

import json
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from nmt import train as train_module
from nmt.errors import NmtError
from nmt.train import TrainState, train
from tests.conftest import write_synthetic_corpus

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, extra: str = "", data: str = "") -> Path:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(tmp_path).replace("data:\n", "data:\n" + data) + extra)
    return cfg


def test_an_epoch_without_batches_stops_with_an_error_instead_of_hanging(tmp_path):
    """Streaming never knows in advance that every pair will be filtered out: the first empty epoch says so."""
    cfg = _config(tmp_path, "train:\n  max_steps: 5\n", data="  streaming: true\n  max_tokens: 2\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "nmt", "train", str(cfg), "--run-dir", str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "epoch 1 gave no training batch" in proc.stderr and "too long" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


def test_patience_counts_only_validations_that_measured_bleu(tmp_path):
    cfg = _config(tmp_path, "train:\n  max_steps: 12\n  valid_every: 2\n  patience: 1\n")
    text = cfg.read_text()
    cfg.write_text("\n".join(line for line in text.splitlines() if not line.startswith("  valid:")) + "\n")
    # (no validation set: every validation measures no BLEU)
    result = train(cfg, run_dir=tmp_path / "run")
    assert result.steps == 12 and "max_steps" in result.stopped
    # without validation BLEU, `best` follows `last`
    state = json.loads((tmp_path / "run" / "checkpoints" / "best" / "state.json").read_text())
    assert state["step"] == 12


def test_patience_still_stops_when_bleu_stops_improving(tmp_path, monkeypatch):
    scores = iter([5.0, 4.0, 6.0, 3.0, 2.0, 1.0])
    monkeypatch.setattr(train_module.Trainer, "validation_scores",
                        lambda self, valid, n: {"valid_loss": 1.0, "valid_ppl": 2.7, "valid_bleu": next(scores)})
    cfg = _config(tmp_path, "train:\n  max_steps: 40\n  valid_every: 2\n  patience: 2\n")
    result = train(cfg, run_dir=tmp_path / "run")
    assert result.steps == 10 and "train.patience" in result.stopped  # 6.0 at step 6, then two worse
    assert result.best_bleu == 6.0


def test_backward_runs_outside_autocast(tmp_path, monkeypatch):
    """Only the forward pass and the loss belong under autocast (PyTorch's AMP recipe)."""
    inside = {"now": False, "backward_inside": 0, "forward_inside": 0}

    @contextmanager
    def spy(*args, **kwargs):
        inside["now"] = True
        try:
            yield
        finally:
            inside["now"] = False

    real_backward, real_loss = torch.Tensor.backward, train_module.batch_loss

    def backward(self, *args, **kwargs):
        inside["backward_inside"] += inside["now"]
        return real_backward(self, *args, **kwargs)

    def loss(*args, **kwargs):
        inside["forward_inside"] += inside["now"]
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train_module.torch, "autocast", spy)
    monkeypatch.setattr(torch.Tensor, "backward", backward)
    monkeypatch.setattr(train_module, "batch_loss", loss)
    train(_config(tmp_path, "train:\n  max_steps: 3\n  valid_every: 3\n"), run_dir=tmp_path / "run")
    assert inside["forward_inside"] >= 3 and inside["backward_inside"] == 0


def test_a_signal_while_data_is_prepared_leaves_nothing(tmp_path, monkeypatch):
    """SIGTERM during SentencePiece/data preparation: exit 143, no run directory, LATEST untouched."""
    runs = tmp_path / "runs"
    cfg = _config(tmp_path, "train:\n  max_steps: 2\n  valid_every: 2\n")
    good = train(cfg, overrides=[f"runs_root={runs}"]).run_dir
    real_prepare = train_module.prepare

    def prepare_then_signal(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # handled between bytecodes, inside preparation
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(train_module, "prepare", prepare_then_signal)
    with pytest.raises(NmtError, match="stopped by SIGTERM before training started") as info:
        train(cfg, overrides=[f"runs_root={runs}", "name=stopped"])
    assert info.value.exit_code == 143
    assert not (runs / "stopped").exists()
    assert (runs / "LATEST").read_text().strip() == good.name
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_train_state_round_trips_and_ignores_unknown_keys():
    state = TrainState(step=7, epoch=1, batch=3, best_bleu=12.5, bad_validations=1, validated_at=6)
    import dataclasses

    raw = {**dataclasses.asdict(state), "param_groups": []}
    assert TrainState.from_dict(raw) == state
