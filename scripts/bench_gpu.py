"""Issue 23's figures in one command, sized for a few minutes of device time. For a recipe: training speed on a
first pass over N batches (every batch shape new to the device) and on a second pass over the same batches (warm),
model FLOPs utilisation, the distinct batch shapes; then decoding speed and BLEU, greedy and beam 5, in fp32 and
in bf16, on the recipe's first test set.

    python scripts/bench_gpu.py configs/multi30k-en-de.yaml --out docs/bench_gpu.json             # on a GPU
    python scripts/bench_gpu.py configs/multi30k-en-de.yaml --run runs/multi30k-en-de-gpu --out ... # its decoding
    python scripts/bench_gpu.py CONFIG --batches 4 --decode-lines 16 --set model.d_model=32 ...       # a CPU check

Training speed is real target tokens (padding not counted) per second; MFU = 6 x parameters x that / the matmul
rate measured here (bf16 on CUDA, fp32 on a CPU). Without --run, decoding uses the model just trained on the N
batches twice: its speed is meaningful, its BLEU is not. Every timing waits for the device to finish.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from rich.console import Console

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import matmul_peak, report  # noqa: E402

from nmt.attention import attention_kernels  # noqa: E402
from nmt.config import load_config  # noqa: E402
from nmt.corpora import load_splits  # noqa: E402
from nmt.data import Batch  # noqa: E402
from nmt.evaluate import score  # noqa: E402
from nmt.trainer import Trainer  # noqa: E402
from nmt.translate import Translator  # noqa: E402


def waited(device: torch.device, fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn`` takes, the device's queued work included, and its result."""
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - start, out


def training(trainer: Trainer, batches: list[Batch], peak_gflops: float) -> dict[str, Any]:
    """Real target tokens/s of a first and a second pass over ``batches``, and the second's MFU."""
    tokens = sum(b.tgt_tokens for b in batches)

    def one_pass() -> None:
        for batch in batches:
            trainer.train_step([batch], batch.tgt_tokens)

    trainer.model.train()
    with attention_kernels(trainer.device, trainer.cfg.train.attention_kernels):
        first, _ = waited(trainer.device, one_pass)
        warm, _ = waited(trainer.device, one_pass)
    params = trainer.model.num_parameters()
    return {
        "batches": len(batches), "real_target_tokens": tokens,
        "distinct_shapes": len({(tuple(b.src.shape), tuple(b.tgt_in.shape)) for b in batches}),
        "first_pass_tokens_per_s": round(tokens / first), "warm_tokens_per_s": round(tokens / warm),
        "first_over_warm_time": round(first / warm, 2), "parameters": params,
        "mfu": round(6 * params * tokens / warm / (peak_gflops * 1e9), 4),
    }


def decoding(translator: Translator, src: list[str], refs: list[str], lang: str) -> dict[str, Any]:
    """Sentences/s (after one warm-up call on the first lines) and BLEU, greedy and beam 5, fp32 and bf16."""
    figures: dict[str, Any] = {}
    for precision, beam in itertools.product(("fp32", "bf16"), (1, 5)):
        translator(src[:64], beam, precision=precision)  # warm-up: kernels, allocator
        seconds, hyps = waited(translator.device, lambda b=beam, p=precision: translator(src, b, precision=p))
        figures[f"beam{beam}-{precision}"] = {
            "sentences_per_s": round(len(src) / seconds, 1),
            "bleu": round(score(hyps, refs, lang, ("bleu",))["bleu"]["score"], 2)}
    for beam in (1, 5):
        figures[f"beam{beam} bf16-fp32 BLEU"] = round(figures[f"beam{beam}-bf16"]["bleu"]
                                                      - figures[f"beam{beam}-fp32"]["bleu"], 2)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("config", nargs="?", default="configs/multi30k-en-de.yaml")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--batches", type=int, default=128, help="training batches, each pass")
    parser.add_argument("--run", default=None, help="decode this trained run (else the model trained here)")
    parser.add_argument("--decode-lines", type=int, default=0, help="the first N test lines (0: all)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.manual_seed(0)
    cfg = load_config(args.config, args.overrides)
    result: dict[str, Any] = {"config": args.config, "overrides": args.overrides, "torch": torch.__version__}
    with tempfile.TemporaryDirectory() as scratch:
        trainer = Trainer(cfg, Path(scratch), Console(stderr=True, quiet=True))
        device = trainer.device
        result["device"] = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
        dtype = torch.bfloat16 if device.type == "cuda" else torch.float32
        result["matmul_peak_gflops"] = round(matmul_peak(device, dtype, 8192 if device.type == "cuda" else 1024), 1)
        batches = [b for _, b in itertools.islice(trainer.epoch_batches(0), args.batches)]
        result["training"] = training(trainer, batches, result["matmul_peak_gflops"])
        print(result["training"], file=sys.stderr, flush=True)
        translator = (Translator.load(args.run, device=str(device)) if args.run else
                      Translator(cfg, trainer.model, trainer.tok, device, Path(scratch)))
        d = translator.cfg.data
        name, test = next(iter(load_splits(d.corpus, d.src_lang, d.tgt_lang, d.root, None, None,
                                           d.test).tests.items()))
        n = args.decode_lines or len(test.src)
        result["decoding"] = {"run": args.run, "test_set": name, "sentences": min(n, len(test.src)),
                              **decoding(translator, test.src[:n], test.tgt[:n], d.tgt_lang)}
    report(result, args.out)


if __name__ == "__main__":
    main()
