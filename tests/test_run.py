"""A run directory as one object: resolving a run by path, name or LATEST, and loading it."""

import pytest

from nmt.constants import CONFIG_FILE
from nmt.errors import NmtError
from nmt.files import atomic_write_text
from nmt.run import load_run, mark_latest, resolve_run
from nmt.trainer import train
from tests.conftest import write_synthetic_corpus


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


def test_load_run_without_weights_and_checkpoint_names(tmp_path):
    """Engines that bring their own weights load the config and tokenizer only; a checkpoint name is checked."""
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(tmp_path) + "train:\n  max_steps: 2\n  valid_every: 2\n")
    run = train(cfg, run_dir=tmp_path / "run").run_dir
    light = load_run(run, None)
    assert light.model is None and light.config.name == "synth" and light.tokenizer.src_vocab_size > 4
    full = load_run(run, "last")
    assert full.model is not None and not full.model.training
    with pytest.raises(NmtError, match="--checkpoint 'newest': choose one of best, last"):
        load_run(run, "newest")
