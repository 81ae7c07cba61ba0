"""Checkpoints: safetensors round trips, atomic swaps, run resolution."""

import pytest
import torch

from nmt.checkpoint import checkpoint_dir, load_training_state, load_weights, save_checkpoint
from nmt.constants import CONFIG_FILE
from nmt.errors import NmtError
from nmt.files import atomic_write_text
from nmt.model import Transformer
from nmt.run import mark_latest, resolve_run
from tests.conftest import tiny_model_config


def test_model_and_optimizer_round_trip(tmp_path):
    torch.manual_seed(0)
    model = Transformer(tiny_model_config(), 40, 40)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.randint(4, 40, (2, 5)), torch.randint(4, 40, (2, 4))).sum().backward()
    opt.step()
    folder = checkpoint_dir(tmp_path, "last")
    save_checkpoint(folder, model, opt, {"step": 7})
    save_checkpoint(folder, model, opt, {"step": 8})  # replacing an existing checkpoint
    # the pointer and the version it names; no temporary leftovers, no older version
    assert sorted(p.name for p in folder.parent.iterdir()) == ["last", folder.resolve().name]
    assert folder.resolve().name.startswith("last.00000008.")
    other = Transformer(tiny_model_config(), 40, 40)
    other_opt = torch.optim.AdamW(other.parameters(), lr=1e-3)
    state = load_training_state(folder, other, other_opt)
    assert state["step"] == 8
    for a, b in zip(model.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b)
    assert other.output.weight is other.src_embed.weight  # tying survives loading
    sa, sb = opt.state_dict()["state"], other_opt.state_dict()["state"]
    assert all(torch.equal(sa[k]["exp_avg"], sb[k]["exp_avg"]) for k in sa)


def test_damaged_or_mismatched_weights_are_refused(tmp_path):
    model = Transformer(tiny_model_config(), 40, 40)
    folder = checkpoint_dir(tmp_path, "best")
    save_checkpoint(folder, model, None, {})
    with pytest.raises(NmtError, match="do not match"):
        load_weights(folder, Transformer(tiny_model_config(d_model=64), 40, 40))
    (folder / "model.safetensors").write_bytes(b"\x80\x04garbage")
    with pytest.raises(NmtError, match=r"model\.safetensors: damaged \(size or checksum"):
        load_weights(folder, model)


def test_resolve_run(tmp_path):
    with pytest.raises(NmtError, match="nmt train"):
        resolve_run(None, str(tmp_path))
    run = tmp_path / "r1"
    run.mkdir()
    atomic_write_text(run / CONFIG_FILE, "name: r1\n")
    mark_latest(run)
    assert resolve_run(None, str(tmp_path)) == run
    assert resolve_run("r1", str(tmp_path)) == run
    with pytest.raises(NmtError, match="not a run directory"):
        resolve_run(str(tmp_path / "nope"), str(tmp_path))


def test_reading_checkpoints_while_training_writes_them_never_fails(tmp_path):
    """50 loads of `last` (and `best`) while `nmt train` rewrites them every step: each one succeeds."""
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from nmt.run import load_run
    from tests.conftest import write_synthetic_corpus

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(tmp_path) + "train:\n  max_steps: 100000\n  save_every: 1\n"
                   "  valid_every: 7\n  log_every: 1\n  threads: 1\n")
    run = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    proc = subprocess.Popen([sys.executable, "-m", "nmt", "train", str(cfg), "--run-dir", str(run)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while not (run / "checkpoints" / "best" / "model.safetensors").is_file():
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()[1]
            time.sleep(0.05)
        logged_before = len((run / "metrics.jsonl").read_text().splitlines())
        for i in range(50):
            loaded = load_run(run, "last" if i % 5 else "best")
            assert loaded.model is not None
        assert proc.poll() is None  # training went on the whole time
        steps = len((run / "metrics.jsonl").read_text().splitlines()) - logged_before
        assert steps > 5  # and rewrote the checkpoint at every one of these steps
    finally:
        proc.kill()
        proc.wait()
