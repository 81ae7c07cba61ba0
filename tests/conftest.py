"""Shared fixtures and helpers (test modules import only from here): tiny seeded models, synthetic tasks, the
reverse-task model, and the optional corpora beside the project."""

from __future__ import annotations

import json
import os
import random
import time
from pathlib import Path

import pytest
import torch

from nmt.attention_maps import AttentionMaps, attention_weights
from nmt.config import ModelConfig, TrainConfig
from nmt.constants import EOS_ID
from nmt.data import collate, pad
from nmt.model import Transformer
from nmt.search import beam_search, greedy_search
from nmt.trainer import batch_loss, learning_rate

SYMBOLS = 14  # the reverse task's vocabulary: ids 4 .. 17

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


def wait_until(predicate, seconds: float = 30.0) -> bool:
    """Poll ``predicate`` every 20 ms until it is true (True) or ``seconds`` have passed (False)."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.02)
    return False


def write_synthetic_corpus(folder: Path, n: int = 300, seed: int = 0, reverse: bool = True) -> str:
    """A made-up parallel corpus (target = source words reversed (or in order), suffixed): ``folder/train.{en,de}``
    and ``folder/valid.{en,de}``; returns a YAML config body (tiny preset) that trains on it."""
    rng = random.Random(seed)
    words = [f"w{i}" for i in range(30)]
    for name, count in (("train", n), ("valid", 30)):
        src = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 7))) for _ in range(count)]
        tgt = [" ".join(w + "x" for w in (reversed(line.split()) if reverse else line.split())) for line in src]
        (folder / f"{name}.en").write_text("\n".join(src) + "\n", encoding="utf-8")
        (folder / f"{name}.de").write_text("\n".join(tgt) + "\n", encoding="utf-8")
    # words like w12 are codes to the verbatim mode: these runs keep it off (tests/test_realtext.py tests it)
    return (f"name: synth\npreset: tiny\ntokenizer:\n  vocab_size: 100\n  placeholders: false\n  split_digits: false\n"
            f"data:\n  corpus: null\n  train: {folder}/train\n  valid: {folder}/valid\n"
            f"  test:\n    valid: {folder}/valid\n")


@pytest.fixture(scope="session")
def synth_run(tmp_path_factory) -> Path:
    """A run trained 40 steps on the synthetic corpus (positions: 24), once per session: for the commands that
    use a trained run (translate, streaming, serving), not for what it has learned."""
    from nmt.trainer import train

    folder = tmp_path_factory.mktemp("synth-run")
    cfg = folder / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(folder) + "model:\n  max_positions: 24\n"
                   "train:\n  max_steps: 40\n  valid_every: 40\n")
    return train(cfg, run_dir=folder / "run").run_dir


@pytest.fixture(scope="session")
def reverse_model():
    """(model, held-out exact match, steps) of a tiny Transformer trained on the reverse task, once per session."""
    return train_reverse_model()


def attention_maps_of(model, seq):
    encoder, masked, cross = attention_weights(model, seq + [EOS_ID], seq[::-1])
    src = [f"s{i}" for i in seq] + ["</s>"]
    tgt = [f"t{i}" for i in seq[::-1]] + ["</s>"]
    return AttentionMaps(src, tgt, encoder, masked, cross)


def reverse_samples(rng: random.Random, n: int) -> list[list[int]]:
    return [[rng.randint(4, 3 + SYMBOLS) for _ in range(rng.randint(3, 8))] for _ in range(n)]


def reverse_exact_match(model: Transformer, seqs: list[list[int]], beam: int = 1) -> float:
    src = pad([s + [EOS_ID] for s in seqs])
    if beam == 1:
        outputs = [h.tokens for h in greedy_search(model, src, 1.0, 2, max_positions=32)]
    else:
        outputs = [b[0].tokens for b in beam_search(model, src, beam, 0.6, 1.0, 2, max_positions=32)]
    return sum(out == s[::-1] for out, s in zip(outputs, seqs)) / len(seqs)


def train_reverse_model() -> tuple[Transformer, float, int]:
    """Train until 95% exact match on held-out sequences (checked every 100 steps, at most 600)."""
    torch.manual_seed(0)
    rng = random.Random(0)
    cfg = ModelConfig(d_model=64, heads=4, ffn_dim=128, encoder_layers=2, decoder_layers=2, dropout=0.0,
                      max_positions=32)
    model = Transformer(cfg, 4 + SYMBOLS, 4 + SYMBOLS)
    train_cfg = TrainConfig(lr=3e-3, warmup_steps=100)
    opt = torch.optim.AdamW(model.parameters(), lr=train_cfg.lr, betas=(0.9, 0.98), eps=1e-9)
    held_out = reverse_samples(random.Random(123), 200)
    accuracy, step = 0.0, 0
    for step in range(1, 601):
        seqs = reverse_samples(rng, 64)
        batch = collate([s + [EOS_ID] for s in seqs], [s[::-1] for s in seqs])
        for group in opt.param_groups:
            group["lr"] = learning_rate(step, train_cfg)
        (batch_loss(model, batch, 0.0) / batch.tgt_tokens).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % 100 == 0:
            model.eval()
            accuracy = reverse_exact_match(model, held_out)
            model.train()
            if accuracy >= 0.95:
                break
    return model.eval(), accuracy, step
