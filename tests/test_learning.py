"""Does it actually learn? A tiny Transformer learns to reverse random sequences (>= 95% exact match)."""

import random

import torch

from nmt.config import ModelConfig, TrainConfig
from nmt.constants import EOS_ID
from nmt.data import collate, pad
from nmt.model import Transformer
from nmt.search import beam_search, greedy_search
from nmt.train import batch_loss, inverse_sqrt_lr

SYMBOLS = 14  # ids 4 .. 17


def _sample(rng: random.Random, n: int) -> list[list[int]]:
    return [[rng.randint(4, 3 + SYMBOLS) for _ in range(rng.randint(3, 8))] for _ in range(n)]


def _exact_match(model: Transformer, seqs: list[list[int]], beam: int = 1) -> float:
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
    held_out = _sample(random.Random(123), 200)
    accuracy, step = 0.0, 0
    for step in range(1, 601):
        seqs = _sample(rng, 64)
        batch = collate([s + [EOS_ID] for s in seqs], [s[::-1] for s in seqs])
        for group in opt.param_groups:
            group["lr"] = inverse_sqrt_lr(step, train_cfg)
        (batch_loss(model, batch, 0.0) / batch.tgt_tokens).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        if step % 100 == 0:
            model.eval()
            accuracy = _exact_match(model, held_out)
            model.train()
            if accuracy >= 0.95:
                break
    return model.eval(), accuracy, step


def test_tiny_model_learns_to_reverse(reverse_model):
    model, accuracy, step = reverse_model
    assert accuracy >= 0.95, f"reverse task: {accuracy:.0%} exact match after {step} steps"
    assert _exact_match(model, _sample(random.Random(123), 200), beam=4) >= 0.95
