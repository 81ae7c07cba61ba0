"""Checkpoints: safetensors round trips, atomic swaps, run resolution."""

import errno
import hashlib
import json
import pickle

import pytest
import torch

from nmt import checkpoint
from nmt.checkpoint import checkpoint_dir, load_training_state, load_weights, save_checkpoint, verify_checkpoint
from nmt.errors import NmtError
from nmt.model import Transformer
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


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # what a malicious pickle does: run code when loaded
        return (open, (str(self.marker), "w"))


def _write_manifest(folder):
    manifest = {p.name: {"bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
                for p in folder.iterdir() if p.name != "manifest.json"}
    (folder / "manifest.json").write_text(json.dumps(manifest))


def test_pickled_weights_are_refused_and_run_nothing(tmp_path):
    model = Transformer(tiny_model_config(), 40, 40)
    folder = checkpoint_dir(tmp_path, "best")
    save_checkpoint(folder, model, None, {})
    marker = tmp_path / "pwned"
    (folder / "model.safetensors").write_bytes(pickle.dumps({"weights": _Exploit(marker)}))
    with pytest.raises(NmtError, match="damaged"):  # the manifest no longer matches
        load_weights(folder, model)
    _write_manifest(folder)  # a forger who also rewrites the manifest gets no further
    with pytest.raises(NmtError, match="model.safetensors: damaged weights"):
        load_weights(folder, model)
    torch.save({"w": _Exploit(marker)}, folder / "model.pt")  # a stray pickle beside it is never read
    with pytest.raises(NmtError):
        load_weights(folder, model)
    assert not marker.exists()


def test_truncated_checkpoint_file_is_named(tmp_path):
    model = Transformer(tiny_model_config(), 40, 40)
    folder = checkpoint_dir(tmp_path, "last")
    save_checkpoint(folder, model, torch.optim.AdamW(model.parameters()), {"step": 1})
    data = (folder / "optimizer.safetensors").read_bytes()
    (folder / "optimizer.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(NmtError, match=r"optimizer\.safetensors: damaged"):
        verify_checkpoint(folder)
    (folder / "manifest.json").unlink()
    with pytest.raises(NmtError, match="manifest.json: missing"):
        verify_checkpoint(folder)


def test_disk_full_keeps_previous_checkpoint(tmp_path, monkeypatch):
    torch.manual_seed(0)
    model = Transformer(tiny_model_config(), 40, 40)
    folder = checkpoint_dir(tmp_path, "last")
    save_checkpoint(folder, model, None, {"step": 1})
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with torch.no_grad():
        for p in model.parameters():
            p.add_(1.0)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(checkpoint.os, "fsync", full)  # the first file write of the new version fails
    with pytest.raises(NmtError, match="No space left on device.*previous checkpoint is kept"):
        save_checkpoint(folder, model, torch.optim.AdamW(model.parameters()), {"step": 2})
    assert sorted(p.name for p in folder.parent.iterdir()) == ["last", folder.resolve().name]  # no partial copy
    fresh = Transformer(tiny_model_config(), 40, 40)
    load_weights(folder, fresh)
    assert all(torch.equal(fresh.state_dict()[k], before[k]) for k in before)
    assert json.loads((folder / "state.json").read_text())["step"] == 1
