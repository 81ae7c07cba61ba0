"""Nothing lost, nothing executed: safe loading, damaged files, disk full, one writer, NaN losses."""

import errno
import hashlib
import json
import math
import pickle

import pytest
import torch

from nmt import checkpoint
from nmt.checkpoint import checkpoint_dir, load_weights, save_checkpoint, verify_checkpoint
from nmt.errors import NmtError
from nmt.files import RunLock, check_writable
from nmt.model import Transformer
from nmt.train import train
from nmt.translate import Translator
from tests.conftest import tiny_model_config, write_synthetic_corpus


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


def test_unwritable_run_directory_fails_at_start():
    with pytest.raises(NmtError, match="cannot write the run directory"):
        check_writable(__import__("pathlib").Path("/proc/nmt-cannot-write-here/run"))


def test_one_writer_per_run_and_stale_locks(tmp_path):
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(write_synthetic_corpus(tmp_path) + "train:\n  max_steps: 2\n  valid_every: 2\n")
    run = tmp_path / "run"
    run.mkdir()
    with RunLock(run):
        with pytest.raises(NmtError, match="already being trained by pid"):
            train(cfg_path, run_dir=run)
    (run / ".lock").write_text("pid 99999999\n")  # left behind by a process that died: not locked
    assert train(cfg_path, run_dir=run).steps == 2


def test_nonfinite_losses_skip_updates_then_stop(tmp_path, monkeypatch):
    from nmt import train as train_module

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(write_synthetic_corpus(tmp_path) + "train:\n  max_steps: 8\n  valid_every: 2\n"
                        "  log_every: 4\n  max_nonfinite: 3\n")
    real_loss = train_module.batch_loss
    calls = {"n": 0}

    def flaky(model, batch, ls):
        loss = real_loss(model, batch, ls)
        if not model.training:  # validation
            return loss
        calls["n"] += 1
        return loss * float("nan") if calls["n"] in (3, 4) else loss  # two bad steps in a row, then fine

    monkeypatch.setattr(train_module, "batch_loss", flaky)
    result = train(cfg_path, run_dir=tmp_path / "run")
    assert result.steps == 8 and calls["n"] == 8  # a skipped update still counts as a step
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_updates"] for r in records if "loss" in r] == [2, 0]  # logged at steps 4 and 8
    assert all(math.isfinite(r["loss"]) for r in records if "loss" in r)  # skipped losses are left out
    model = Translator.load(tmp_path / "run", checkpoint="last").model
    assert all(torch.isfinite(p).all() for p in model.parameters())
    good = {k: v.clone() for k, v in model.state_dict().items()}

    monkeypatch.setattr(train_module, "batch_loss",
                        lambda m, b, ls: real_loss(m, b, ls) * (float("nan") if m.training else 1.0))
    with pytest.raises(NmtError, match="4 updates in a row had a NaN/Inf loss"):
        train(cfg_path, run_dir=tmp_path / "run", resume=True, overrides=["train.max_steps=20"])
    # steps 9-10 were skipped and saved at the step-10 validation (2 < 3 in a row); at step 12 the run stopped
    state = json.loads((tmp_path / "run" / "checkpoints" / "last" / "state.json").read_text())
    assert state["step"] == 10
    kept = Translator.load(tmp_path / "run", checkpoint="last").model.state_dict()
    assert all(torch.equal(kept[k], good[k]) for k in good)  # the last good weights, untouched by skipped steps


class _DeviceReads(torch.overrides.TorchFunctionMode):
    """Records every read of a tensor's value on the host (on CUDA each one waits for the GPU)."""

    READS = {"item", "__bool__", "__float__", "__int__", "__index__", "tolist", "numpy"}

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if getattr(func, "__name__", "") in self.READS:
            self.seen.append(func.__name__)
        return func(*args, **(kwargs or {}))


def test_training_step_reads_nothing_back_from_the_device(tmp_path, monkeypatch):
    """A step, a NaN step included, never reads a tensor's value: on a GPU it queues work and goes on."""
    from nmt import train as train_module
    from nmt.config import load_config
    from nmt.train import Trainer

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(write_synthetic_corpus(tmp_path) + "train:\n  clip_norm: 1.0\n")
    trainer = Trainer(load_config(cfg_path), tmp_path / "run")
    batches = [b for _, b in trainer.epoch_batches(0)][:3]
    real_loss = train_module.batch_loss
    with _DeviceReads() as reads:
        trainer.train_step(batches[:1], batches[0].tgt_tokens)
        before = [p.detach().clone() for p in trainer.model.parameters()]
        monkeypatch.setattr(train_module, "batch_loss", lambda m, b, ls: real_loss(m, b, ls) * float("inf"))
        trainer.train_step(batches[1:2], batches[1].tgt_tokens)
        monkeypatch.setattr(train_module, "batch_loss", real_loss)
    assert reads.seen == []
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))  # the inf step changed nothing
    assert trainer.skips.read() == (1, 1)
    trainer.train_step(batches[2:3], batches[2].tgt_tokens)
    assert not all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))  # and then it learns
    assert trainer.skips.read()[0] == 0


def test_every_pair_filtered_out_names_the_fix(tmp_path):
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(write_synthetic_corpus(tmp_path).replace("data:\n", "data:\n  max_tokens: 1\n"))
    with pytest.raises(NmtError, match="every training pair was filtered out.*raise data.max_tokens"):
        train(cfg_path, run_dir=tmp_path / "run")


def test_a_failed_start_leaves_no_run_and_keeps_latest(tmp_path):
    from nmt.run import resolve_run

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(write_synthetic_corpus(tmp_path) + "train:\n  max_steps: 2\n  valid_every: 2\n")
    good = train(cfg_path, overrides=[f"runs_root={tmp_path / 'runs'}"]).run_dir
    (tmp_path / "bad.tsv").write_text("no tab here\n")
    with pytest.raises(NmtError, match="no tab"):
        train(cfg_path, overrides=[f"runs_root={tmp_path / 'runs'}", "name=broken",
                                   "data.train=" + str(tmp_path / "bad.tsv")])
    assert not (tmp_path / "runs" / "broken").exists()
    assert resolve_run(None, str(tmp_path / "runs")) == good  # translate/eval still find the good run
