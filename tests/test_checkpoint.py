"""Checkpoints: safetensors round trips, atomic swaps, run resolution."""

import pytest
import torch

from nmt.checkpoint import (
    atomic_write_text,
    checkpoint_dir,
    load_training_state,
    load_weights,
    mark_latest,
    resolve_run,
    save_checkpoint,
)
from nmt.constants import CONFIG_FILE
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
    assert sorted(p.name for p in folder.parent.iterdir()) == ["last"]  # no temporary leftovers
    other = Transformer(tiny_model_config(), 40, 40)
    other_opt = torch.optim.AdamW(other.parameters(), lr=1e-3)
    load_weights(folder, other)
    state = load_training_state(folder, other_opt)
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
