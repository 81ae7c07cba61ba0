"""Training throughput, side by side in one run: nmt's small preset vs HF MarianMTModel of the same shape.

    python scripts/bench_train.py --threads 2 --steps 30 --out docs/bench_train.json
    python scripts/bench_train.py --systems nmt --precision fp32 bf16 --set model.d_model=128 ...  # a shape, both ways

Real data: the same Multi30k en-de sentences for both. nmt uses its own token-budget batches over length-sorted
pairs; HF gets what HF users build: shuffled sentences in fixed-size batches (the same mean sentences per batch),
padded to the longest (DataCollatorForSeq2Seq style). Synthetic full batches: 128 x 32 source and target tokens,
no padding. Figures: real (non-padding) target tokens per second (median over windows; the systems' windows are
interleaved in one process), padding fraction, and model FLOPs utilisation = 6 * parameters * target tokens /
time / peak, against an fp32 matmul peak measured here.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from benchlib import matmul_peak, report, top_ops
from rich.console import Console

from nmt.config import load_config
from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.data import Batch, collate, token_batches
from nmt.trainer import Trainer


def interleaved_windows(
    steps: dict[str, Callable[[], tuple[int, int]]], warmup: int, total: int, window: int
) -> dict[str, dict]:
    """Run each system's ``step`` (returns real and padded target tokens) window by window, the systems taking
    turns (order rotated each round), so a slow spell of a shared host falls on all of them alike; per system the
    median real tokens/s over its windows."""
    for step in steps.values():
        for _ in range(warmup):
            step()
    names = list(steps)
    rates: dict[str, list[float]] = {name: [] for name in names}
    counts = {name: [0, 0] for name in names}  # real, padded
    for r in range(max(1, total // window)):
        for name in names[r % len(names):] + names[: r % len(names)]:
            real, start = 0, time.perf_counter()
            for _ in range(window):
                got, padded = steps[name]()
                real += got
                counts[name][0] += got
                counts[name][1] += padded
            rates[name].append(real / (time.perf_counter() - start))
    return {name: {"real_target_tokens_per_s": round(statistics.median(rates[name])),
                   "windows": [round(x) for x in rates[name]],
                   "padding_fraction": round(1 - counts[name][0] / counts[name][1], 4)} for name in names}


def nmt_stepper(trainer: Trainer, batches: Iterator[Batch]) -> Callable[[], tuple[int, int]]:
    def step() -> tuple[int, int]:
        batch = next(batches)
        trainer.train_step([batch], batch.tgt_tokens)
        return batch.tgt_tokens, batch.tgt_out.numel()

    return step


def hf_model(vocab: int, cfg) -> torch.nn.Module:  # noqa: ANN001
    from transformers import MarianConfig, MarianMTModel

    return MarianMTModel(MarianConfig(
        vocab_size=vocab, d_model=cfg.d_model, encoder_layers=cfg.encoder_layers, decoder_layers=cfg.decoder_layers,
        encoder_attention_heads=cfg.heads, decoder_attention_heads=cfg.heads, encoder_ffn_dim=cfg.ffn_dim,
        decoder_ffn_dim=cfg.ffn_dim, max_position_embeddings=cfg.max_positions, dropout=cfg.dropout,
        pad_token_id=PAD_ID, eos_token_id=EOS_ID, decoder_start_token_id=BOS_ID, forced_eos_token_id=None)).train()


def hf_stepper(
    model: torch.nn.Module, batches: Iterator[Batch], label_smoothing: float
) -> Callable[[], tuple[int, int]]:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.98), eps=1e-9)

    def step() -> tuple[int, int]:
        batch = next(batches)
        labels = batch.tgt_out.masked_fill(batch.tgt_out == PAD_ID, -100)
        logits = model(input_ids=batch.src, attention_mask=batch.src != PAD_ID, decoder_input_ids=batch.tgt_in,
                       decoder_attention_mask=batch.tgt_in != PAD_ID).logits  # (B, T, V): padding included
        loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100,
                               label_smoothing=label_smoothing, reduction="sum") / batch.tgt_tokens
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)
        return batch.tgt_tokens, batch.tgt_out.numel()

    return step


VARIANTS = {  # nmt systems: config overrides on top of the recipe
    "nmt": [],
    "nmt-no-act-dropout": ["model.activation_dropout=0.0"],  # like HF Marian's FFN: no dropout inside it
    "nmt-compile": ["train.compile=true"],
}


def cycle(make: Callable[[], list[Batch]]) -> Iterator[Batch]:
    while True:
        yield from make()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", default="configs/multi30k-en-de.yaml")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--systems", nargs="+", default=["nmt", "hf"], choices=[*VARIANTS, "hf"],
                        help="nmt variants (see VARIANTS) and/or hf")
    parser.add_argument("--precision", nargs="+", default=["fp32"], choices=["fp32", "bf16"],
                        help="train.precision of the nmt systems; with several, each system runs at each")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides for every nmt system (a model shape, say)")
    parser.add_argument("--profile", type=int, default=0, metavar="STEPS",
                        help="also profile STEPS synthetic steps of each system, twice, taking turns (torch.profiler)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base = ["train.threads=0", "model.dropout=0.1", *args.overrides]
    cfg = load_config(args.config, base)
    result: dict = {"config": args.config, "overrides": args.overrides, "threads": args.threads,
                    "torch": torch.__version__,
                    "matmul_peak_gflops": round(matmul_peak(), 1), "real_data": {}, "synthetic": {}}
    peak = result["matmul_peak_gflops"] * 1e9
    with tempfile.TemporaryDirectory() as scratch:
        def make_trainer(overrides: list[str]) -> Trainer:
            torch.manual_seed(0)
            return Trainer(load_config(args.config, [*base, *overrides]), Path(scratch),
                           Console(stderr=True, quiet=True))

        trainer = make_trainer([f"train.precision={args.precision[0]}"])
        nmt_params = trainer.model.num_parameters()
        vocab = trainer.tok.tgt_vocab_size
        pairs = trainer.data  # ArrowPairs: the recipe's kept training pairs as ids
        nmt_batches = token_batches(pairs.src_lens, pairs.tgt_lens, cfg.train.batch_tokens, cfg.train.seed * 100_003)
        mean_sentences = round(statistics.mean(len(b) for b in nmt_batches))
        order = list(range(len(pairs)))
        random.Random(0).shuffle(order)  # HF: shuffled sentences, fixed-size batches
        hf_batches = [order[i : i + mean_sentences] for i in range(0, len(order), mean_sentences)]

        def real(indices: list[list[int]]) -> Callable[[], list[Batch]]:
            return lambda: [collate(*pairs.fetch(np.asarray(b))) for b in indices]

        g = torch.Generator().manual_seed(0)
        synthetic = [collate(torch.randint(4, vocab, (128, 31), generator=g).tolist(),
                             torch.randint(4, vocab, (128, 31), generator=g).tolist()) for _ in range(4)]
        systems = {}
        for name in args.systems:
            for precision in args.precision if name in VARIANTS else []:
                first = name == "nmt" and precision == args.precision[0]
                variant = trainer if first else make_trainer([*VARIANTS[name], f"train.precision={precision}"])
                label = f"{name}-{precision}" if len(args.precision) > 1 else name
                systems[label] = (lambda data, t=variant: nmt_stepper(t, data), nmt_params)
        if "hf" in args.systems:
            torch.manual_seed(0)
            hf = hf_model(vocab, cfg.model)
            systems["hf-marian"] = (lambda data: hf_stepper(hf, data, cfg.train.label_smoothing),
                                    sum(p.numel() for p in hf.parameters()))
        for kind in ("real_data", "synthetic"):
            steps = {name: make(cycle(lambda: synthetic) if kind == "synthetic"
                                else cycle(real(hf_batches if name == "hf-marian" else nmt_batches)))
                     for name, (make, _) in systems.items()}
            for name, figures in interleaved_windows(steps, args.warmup, args.steps, args.window).items():
                figures["parameters"] = params = systems[name][1]
                figures["mfu"] = round(6 * params * figures["real_target_tokens_per_s"] / peak, 3)
                result[kind][name] = figures
                print(f"{name:>10} {kind:>10}: {figures['real_target_tokens_per_s']:6d} real target tok/s, "
                      f"padding {figures['padding_fraction']:.1%}, MFU {figures['mfu']:.1%}", flush=True)
            if args.out:  # what is measured so far survives a stopped run
                args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
        for _ in range(args.profile and 2):  # two rounds, systems taking turns: profiles compare within a round
            for name, (make, _) in systems.items():
                step = make(cycle(lambda: synthetic))
                result.setdefault("profile_synthetic", {}).setdefault(name, []).append(
                    top_ops(step, args.profile, warmup=2))
        result["mean_sentences_per_batch"] = mean_sentences
    if len(args.precision) == 2 and "nmt-fp32" in result["real_data"]:
        result["ratio_bf16_over_fp32_real_data"] = round(
            result["real_data"]["nmt-bf16"]["real_target_tokens_per_s"]
            / result["real_data"]["nmt-fp32"]["real_target_tokens_per_s"], 3)
    if "hf-marian" in result["real_data"] and "nmt" in result["real_data"]:
        result["ratio_nmt_over_hf_real_data"] = round(
            result["real_data"]["nmt"]["real_target_tokens_per_s"]
            / result["real_data"]["hf-marian"]["real_target_tokens_per_s"], 3)
    report(result, args.out)


if __name__ == "__main__":
    main()
