"""Shared fixtures: tiny seeded models, synthetic tasks, and the optional corpora beside the project."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
import torch

from nmt.config import ModelConfig
from nmt.constants import EOS_ID
from nmt.model import Transformer

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # tests never touch the network
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = ROOT.parent / "shared" / "data"
needs_shared = pytest.mark.skipif(not (SHARED_DATA / "multi30k" / "train.en").is_file(),
                                  reason="../shared/data (real corpora) is not beside this checkout")


def tiny_model_config(**kw: object) -> ModelConfig:
    base = dict(d_model=32, heads=4, ffn_dim=64, encoder_layers=2, decoder_layers=2, dropout=0.0, max_positions=64)
    base.update(kw)
    return ModelConfig(**base)  # type: ignore[arg-type]


@pytest.fixture
def tiny_model() -> Transformer:
    torch.manual_seed(0)
    return Transformer(tiny_model_config(), 40, 40).eval()


def random_sources(n: int, vocab: int = 40, lo: int = 3, hi: int = 9, seed: int = 0) -> list[list[int]]:
    """Id sequences (ending with </s>) of random lengths, using ids >= 4 (not special)."""
    rng = random.Random(seed)
    return [[rng.randrange(4, vocab) for _ in range(rng.randint(lo, hi))] + [EOS_ID] for _ in range(n)]


def step_losses(run: Path) -> dict[int, float]:
    """Per-step training loss from RUN/metrics.jsonl; after a resume the replayed steps overwrite the earlier
    records."""
    out = {}
    for line in (run / "metrics.jsonl").read_text().splitlines():
        record = json.loads(line)
        if "loss" in record:
            out[record["step"]] = record["loss"]
    return out


def write_synthetic_corpus(folder: Path, n: int = 300, seed: int = 0) -> str:
    """A made-up parallel corpus (target = source words reversed, suffixed): ``folder/train.{en,de}`` and
    ``folder/valid.{en,de}``; returns a YAML config body (tiny preset) that trains on it."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(30)]
    for name, count in (("train", n), ("valid", 30)):
        src = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 7))) for _ in range(count)]
        tgt = [" ".join(w + "x" for w in reversed(line.split())) for line in src]
        (folder / f"{name}.en").write_text("\n".join(src) + "\n", encoding="utf-8")
        (folder / f"{name}.de").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    return (f"name: synth\npreset: tiny\ntokenizer:\n  vocab_size: 100\n"
            f"data:\n  corpus: null\n  train: {folder}/train\n  valid: {folder}/valid\n"
            f"  test:\n    valid: {folder}/valid\n")


@pytest.fixture(scope="session")
def reverse_model():
    """(model, held-out exact match, steps) of a tiny Transformer trained on the reverse task, once per session."""
    from tests.test_learning import train_reverse_model

    return train_reverse_model()
