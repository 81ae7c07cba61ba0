"""Exact resume after a hard kill (SIGKILL), and polite stops on SIGINT/SIGTERM."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import step_losses, write_synthetic_corpus

ROOT = Path(__file__).resolve().parent.parent
STEPS = 80


def _start(cfg: Path, run: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "nmt", "train", str(cfg), "--run-dir", str(run), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _wait_for_step(run: Path, step: int, proc: subprocess.Popen, timeout: float = 120) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        metrics = run / "metrics.jsonl"
        if metrics.exists():
            logged = step_losses(run)
            if logged and max(logged) >= step:
                return max(logged)
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.01)
    raise AssertionError(f"step {step} never logged")


def _wait_for_file(path: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None or path.exists(), proc.communicate()[1]
        assert time.monotonic() < deadline, f"{path} never written"
        time.sleep(0.01)


def _config(tmp_path: Path) -> Path:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(tmp_path) +
                   f"train:\n  max_steps: {STEPS}\n  valid_every: 1000\n  save_every: 10\n  log_every: 1\n"
                   "  batch_tokens: 256\n  threads: 1\n")
    return cfg


# both schedules and both precisions, each once (the default recipe: cosine, fp32 on a CPU)
@pytest.mark.parametrize("schedule,precision", [("cosine", "fp32"), ("inverse_sqrt", "bf16")])
def test_hard_kill_then_resume_matches_uninterrupted_run(tmp_path, schedule, precision):
    cfg = _config(tmp_path)
    cfg.write_text(cfg.read_text() + f"  schedule: {schedule}\n  warmup_steps: 20\n"  # decay from step 20 on
                   f"  precision: {precision}\n")
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    killed.mkdir()
    done = _start(cfg, straight)
    _wait_for_file(straight / "spm.model", done)
    shutil.copy(straight / "spm.model", killed / "spm.model")  # same vocabulary; the test is about training
    proc = _start(cfg, killed)  # beside the straight run: one thread each, the machine's two cores
    seen = _wait_for_step(killed, 37, proc)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert done.wait(timeout=300) == 0, done.communicate()[1]
    reference = step_losses(straight)
    assert sorted(reference) == list(range(1, STEPS + 1))
    saved = json.loads((killed / "checkpoints" / "last" / "state.json").read_text())["step"]
    assert seen - saved <= 10  # work lost to the kill: at most one save_every interval (+ the step in flight)

    resumed = _start(cfg, killed, "--resume")
    out, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    after = step_losses(killed)
    assert sorted(after) == list(range(1, STEPS + 1))
    diffs = [abs(after[s] - reference[s]) for s in range(saved + 1, STEPS + 1)]
    print(f"killed at step {seen}, resumed from {saved}, largest loss difference after resume {max(diffs)}")
    assert max(diffs) == 0.0  # exactly equal on CPU with a fixed seed


def test_polite_stop_writes_a_checkpoint_and_exits_130(tmp_path):
    cfg = _config(tmp_path)
    run = tmp_path / "run"
    proc = _start(cfg, run)
    _wait_for_step(run, 15, proc)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    saved = json.loads((run / "checkpoints" / "last" / "state.json").read_text())["step"]
    assert saved == max(step_losses(run))  # the checkpoint holds the last finished step: nothing lost
    assert "SIGINT" in err and "Traceback" not in err

    proc = _start(cfg, run, "--resume")  # SIGTERM works the same, with 143
    _wait_for_step(run, saved + 5, proc)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=120)
    assert proc.returncode == 143
    assert json.loads((run / "checkpoints" / "last" / "state.json").read_text())["step"] > saved


def test_a_resume_keeps_the_batch_padding_the_run_began_with(tmp_path, monkeypatch):
    """The padding multiple decides the epoch's batches; a run begun on a GPU (multiple 8) and resumed on a CPU
    (multiple 1 there) must go on with 8, or the resumed epoch would skip or repeat pairs."""
    from rich.console import Console

    from nmt.config import TrainConfig, load_config
    from nmt.trainer import Trainer, train

    cfg = _config(tmp_path)
    run = tmp_path / "run"
    with monkeypatch.context() as patch:
        patch.setattr(TrainConfig, "pad_multiple", lambda self, device_type: 8)  # as on CUDA
        train(cfg, ["train.max_steps=5", "train.save_every=5"], run_dir=run, console=Console(quiet=True))
    resumed = Trainer(load_config(run / "config.yaml"), run, Console(quiet=True))
    assert resumed.state.pad_multiple == 1  # a fresh start here would pad to 1
    resumed.resume()
    assert resumed.state.pad_multiple == 8
    widths = {b.src.size(1) % 8 for _, b in resumed.epoch_batches(resumed.state.epoch, resumed.state.batch)}
    assert widths == {0}
