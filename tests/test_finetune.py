"""Fine-tuning (`nmt train --init-from RUN`): a run trained on one made-up task moves to another within a few
steps where a fresh model has barely started; the source run is never written to; a config of another shape or
vocabulary is refused, naming the key."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import yaml

import nmt
from nmt.errors import NmtError
from tests.conftest import write_synthetic_corpus

STEPS = 100  # fine-tuning steps (and the fresh model's)


def _files(run: Path) -> dict[str, str]:
    return {str(p.relative_to(run)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(run.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> Path:
    """A tiny run trained on task A: target = source words reversed, suffixed."""
    folder = tmp_path_factory.mktemp("task-a")
    (folder / "a.yaml").write_text(write_synthetic_corpus(folder, n=2000))
    nmt.train(folder / "a.yaml", ["train.max_steps=400", "train.schedule=cosine", "train.warmup_steps=50",
                                  "train.lr=0.005", "train.valid_every=400"], run_dir=folder / "run")
    return folder / "run"


@pytest.fixture(scope="module")
def task_b(tmp_path_factory) -> Path:
    """Task B: the same words, kept in order (the attention pattern changes, the word mapping does not)."""
    folder = tmp_path_factory.mktemp("task-b")
    (folder / "b.yaml").write_text(write_synthetic_corpus(folder, n=2000, seed=1, reverse=False))
    return folder / "b.yaml"


SETTINGS = [f"train.max_steps={STEPS}", "train.schedule=cosine", "train.warmup_steps=20", "train.lr=0.003",
            f"train.valid_every={STEPS}"]


def test_fine_tuned_run_learns_the_new_task_where_a_fresh_one_has_not(source, task_b, tmp_path):
    before = _files(source)
    tuned = nmt.train(task_b, [*SETTINGS, f"train.init_from={source}"], run_dir=tmp_path / "tuned")
    fresh = nmt.train(task_b, SETTINGS, run_dir=tmp_path / "fresh")
    assert tuned.steps == STEPS  # its own step count, schedule and best score: not the source's
    # measured: 56.4 fine-tuned, 1.2 fresh (a fine-tuning that loaded nothing scores like the fresh run)
    assert tuned.best_bleu >= 45, f"fine-tuned: validation BLEU {tuned.best_bleu:.1f} after {STEPS} steps"
    assert fresh.best_bleu < 10, f"fresh: validation BLEU {fresh.best_bleu:.1f} after {STEPS} steps"
    assert _files(source) == before  # the source run is byte-identical
    saved = yaml.safe_load((tmp_path / "tuned" / "config.yaml").read_text())
    assert saved["train"]["init_from"] == str(source) and saved["train"]["init_checkpoint"] == "best"
    assert (tmp_path / "tuned" / "spm.model").read_bytes() == (source / "spm.model").read_bytes()


@pytest.mark.parametrize("override,key", [("model.d_model=32", "model.d_model"),
                                          ("model.activation=gelu", "model.activation"),
                                          ("tokenizer.vocab_size=50", "tokenizer.vocab_size"),
                                          ("train.init_checkpoint=averaged", "no 'averaged' checkpoint")])
def test_a_config_that_does_not_fit_the_source_is_refused(source, task_b, tmp_path, override, key):
    with pytest.raises(NmtError, match=key):
        nmt.train(task_b, [*SETTINGS, f"train.init_from={source}", override], run_dir=tmp_path / "x")
    assert not (tmp_path / "x").exists()


def test_fine_tuning_into_the_source_itself_is_refused(source, task_b):
    with pytest.raises(NmtError, match="--resume"):
        nmt.train(task_b, [*SETTINGS, f"train.init_from={source}"], run_dir=source)
