"""Decoding speed, side by side in one run: nmt (PyTorch), CTranslate2 (float32, int8), HF transformers.

Forced-length protocol (issue 5): a model of the small shape (d_model 256, 4 heads, FFN 1024, 3+3 layers,
vocabulary 8000) with random weights translates 1,000 sentences of 20 source tokens in batches of 32; every
output is forced to exactly 25 tokens, so all systems do equal work. nmt and CTranslate2 run the same weights;
HF MarianMTModel has its own random weights of the same shape. Real data (``--run``): a trained run's test set,
natural lengths, nmt vs its CTranslate2 export.

    python scripts/bench_decode.py --threads 1 2 --repeats 3 --out docs/bench_decode.json [--run runs/multi30k-en-de]

Each figure is the median of ``--repeats`` timings, in sentences per second, at the system's best thread count
(every system is measured at each count of ``--threads``; all counts are in the JSON's ``by_threads``).
Each timing is a fresh process that runs one system (warm-up, then one timed pass); the repeats are
interleaved, round after round over all systems, so that a shared host's slow spells fall on every system alike
(``--no-isolate``: all systems and repeats in this one process; torch's and CTranslate2's OpenMP threads then
slow each other).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from benchlib import report, top_ops

from nmt.config import ModelConfig
from nmt.constants import EOS_ID
from nmt.data import pad
from nmt.model import Transformer
from nmt.search import beam_search, greedy_search

SENTENCES, SRC_LEN, OUT_LEN, BATCH, VOCAB = 1000, 20, 25, 32, 8000
REAL_DATA_SYSTEMS = ("nmt", "nmt-int8", "ctranslate2-float32")


def timed(fn: Callable[[], object], repeats: int) -> tuple[float, list[float]]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), times


def forced_sources(seed: int = 0) -> list[list[int]]:
    g = torch.Generator().manual_seed(seed)
    body = torch.randint(4, VOCAB, (SENTENCES, SRC_LEN - 1), generator=g)
    return [row + [EOS_ID] for row in body.tolist()]


def nmt_forced(model: Transformer, sources: list[list[int]], beam: int) -> list[list[int]]:
    out = []
    for i in range(0, len(sources), BATCH):
        src = pad(sources[i : i + BATCH])
        if beam == 1:
            out += [h.tokens for h in greedy_search(model, src, 0.0, OUT_LEN + 1, OUT_LEN, model.cfg.max_positions)]
        else:
            out += [b[0].tokens for b in beam_search(model, src, beam, 0.6, 0.0, OUT_LEN + 1, OUT_LEN, 1,
                                                     model.cfg.max_positions)]
    return out


def ct2_forced(engine, sources: list[list[int]], beam: int) -> list[list[str]]:  # noqa: ANN001
    tokens = [[f"t{i}" for i in s[:-1]] + ["</s>"] for s in sources]
    results = engine.translate_batch(tokens, beam_size=beam, max_batch_size=BATCH, min_decoding_length=OUT_LEN,
                                     max_decoding_length=OUT_LEN, length_penalty=0.6)
    return [r.hypotheses[0] for r in results]


def hf_forced(model, sources: list[list[int]], beam: int) -> list[list[int]]:  # noqa: ANN001
    out = []
    with torch.inference_mode():
        for i in range(0, len(sources), BATCH):
            src = torch.tensor(sources[i : i + BATCH])
            gen = model.generate(input_ids=src, attention_mask=torch.ones_like(src), num_beams=beam, do_sample=False,
                                 min_new_tokens=OUT_LEN, max_new_tokens=OUT_LEN)
            out += gen[:, 1:].tolist()  # drop the decoder start token
    return out


def forced_protocol(threads: int, repeats: int, systems: list[str]) -> dict:
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=256, heads=4, ffn_dim=1024, encoder_layers=3, decoder_layers=3, dropout=0.0)
    model = Transformer(cfg, VOCAB, VOCAB).eval()
    sources = forced_sources()
    results: dict[str, dict] = {}

    def run(name: str, fn: Callable[[int], list], beam: int) -> None:
        lengths = {len(x) for x in fn(beam)}  # warm-up, and a check that the work is equal
        median, times = timed(lambda: fn(beam), repeats)
        results.setdefault(name, {})[f"beam{beam}"] = {
            "sentences_per_s": round(SENTENCES / median, 1), "seconds": [round(t, 2) for t in times],
            "output_lengths": sorted(lengths)}
        print(f"{name:>24} beam {beam}: {SENTENCES / median:8.1f} sentences/s", flush=True)

    for beam in (1, 5):
        if "nmt" in systems:
            run("nmt", lambda b: nmt_forced(model, sources, b), beam)
    if "nmt-int8" in systems:  # dynamic int8 quantization of every nn.Linear (weights int8, activations on the fly)
        quantized = torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear}, dtype=torch.qint8)
        for beam in (1, 5):
            run("nmt-int8", lambda b: nmt_forced(quantized, sources, b), beam)
    if any(s.startswith("ctranslate2") for s in systems):
        import ctranslate2

        from nmt.ct2 import ctranslate2_spec, save_spec

        vocab = ["<pad>", "<unk>", "<s>", "</s>"] + [f"t{i}" for i in range(4, VOCAB)]
        with tempfile.TemporaryDirectory() as tmp:
            for quant in ("float32", "int8"):
                if f"ctranslate2-{quant}" not in systems:
                    continue
                folder = save_spec(ctranslate2_spec(model, vocab, vocab, quant), Path(tmp) / quant)
                engine = ctranslate2.Translator(str(folder), device="cpu", inter_threads=1, intra_threads=threads)
                for beam in (1, 5):
                    run(f"ctranslate2-{quant}", lambda b, e=engine: ct2_forced(e, sources, b), beam)
    if "hf" in systems:
        from transformers import MarianConfig, MarianMTModel

        hf_cfg = MarianConfig(vocab_size=VOCAB, d_model=256, encoder_layers=3, decoder_layers=3,
                              encoder_attention_heads=4, decoder_attention_heads=4, encoder_ffn_dim=1024,
                              decoder_ffn_dim=1024, max_position_embeddings=256, pad_token_id=0, eos_token_id=EOS_ID,
                              decoder_start_token_id=2, forced_eos_token_id=None)
        hf = MarianMTModel(hf_cfg).eval()
        for beam in (1, 5):
            run("hf-transformers-marian", lambda b: hf_forced(hf, sources, b), beam)
    return {"systems": results}


def ratios(results: dict) -> dict:
    """nmt / CTranslate2-float32 sentences per second, per beam size."""
    if "nmt" not in results or "ctranslate2-float32" not in results:
        return {}
    return {f"nmt/ctranslate2-float32 {beam}": round(results["nmt"][beam]["sentences_per_s"]
                                                     / results["ctranslate2-float32"][beam]["sentences_per_s"], 3)
            for beam in ("beam1", "beam5")}


def isolated(args: argparse.Namespace) -> dict:
    """Each system in its own process (two OpenMP runtimes, torch's and CTranslate2's, in one process keep their
    threads spinning after work and slow whichever system runs next), at each thread count of ``--threads``, the
    repeats interleaved: round r runs every (system, threads) pair once, each in a fresh process, in an order
    rotated by r, so a slow spell of a shared host lands on every pair alike instead of on whichever ran during
    it. A system's figure is its best thread count's (CTranslate2 was seen faster with 1 intra thread than 2 on
    this machine), and the ratios compare best with best."""
    result = {"threads": args.threads, "repeats": args.repeats, "torch": torch.__version__, "isolated": True,
              "interleaved": True, "by_threads": {}}
    jobs = [(system, threads) for system in args.systems for threads in args.threads]
    for r in range(args.repeats):
        for system, threads in jobs[r % len(jobs):] + jobs[: r % len(jobs)]:
            with tempfile.TemporaryDirectory() as tmp:
                out = Path(tmp) / "one.json"
                command = [sys.executable, __file__, "--no-isolate", "--threads", str(threads), "--repeats", "1",
                           "--sentences", str(args.sentences), "--systems", system, "--out", str(out)]
                if args.run and system in REAL_DATA_SYSTEMS:
                    command += ["--run", args.run]
                subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
                one = json.loads(out.read_text())
            per = result["by_threads"].setdefault(str(threads), {"forced_length": {}, "real_data": {}})
            _merge(per["forced_length"], one["forced_length"]["systems"], args.sentences)
            real = one.get("real_data", {})
            if real:
                about = {k: v for k, v in real.items() if not isinstance(v, dict)}  # run, test set, sentences
                result.setdefault("real_data_set", {}).update(about)
                _merge(per["real_data"], {k: v for k, v in real.items() if isinstance(v, dict)}, real["sentences"])
            print(f"round {r + 1}/{args.repeats}: {system} with {threads} thread(s) done", flush=True)
    for part in ("forced_length", "real_data"):
        best = _best_threads(result["by_threads"], part)
        if best:
            result[part] = {"systems": best, "ratios": ratios(best)}
    return result


def _best_threads(by_threads: dict, part: str) -> dict:
    """Per system and beam, the figures of the thread count that was fastest (median sentences/s)."""
    best: dict = {}
    for threads, parts in by_threads.items():
        for system, beams in parts[part].items():
            for beam, figures in beams.items():
                kept = best.setdefault(system, {}).get(beam)
                if kept is None or figures["sentences_per_s"] > kept["sentences_per_s"]:
                    best[system][beam] = {**figures, "threads": int(threads)}
    return best


def _merge(into: dict, one: dict, sentences: int) -> None:
    """Add one round's timings (one per system and beam) to ``into``; sentences/s from the median so far."""
    for system, beams in one.items():
        for beam, figures in beams.items():
            kept = into.setdefault(system, {}).setdefault(beam, {**figures, "seconds": []})
            kept["seconds"].extend(figures["seconds"])
            kept["sentences_per_s"] = round(sentences / statistics.median(kept["seconds"]), 1)


def real_data(run: str, threads: int, repeats: int, systems: list[str]) -> dict:
    import dataclasses

    import sacrebleu

    from nmt.corpora import load_splits
    from nmt.ct2 import CT2Translator, export_ctranslate2
    from nmt.run import load_run
    from nmt.translate import Translator

    translator = Translator.load(run)
    d = translator.cfg.data
    tests = load_splits(d.corpus, d.src_lang, d.tgt_lang, d.root, None, None, d.test).tests
    name = next(iter(tests))
    sources, refs = tests[name].src, tests[name].tgt
    out: dict = {"run": run, "test": name, "sentences": len(sources), "batch_size": translator.cfg.decode.batch_size}
    runners = {}
    if "nmt" in systems:
        runners["nmt"] = lambda b: translator(sources, beam_size=b)
    if "nmt-int8" in systems:
        quantized = dataclasses.replace(translator, model=torch.ao.quantization.quantize_dynamic(
            translator.model, {torch.nn.Linear}, dtype=torch.qint8))
        runners["nmt-int8"] = lambda b: quantized(sources, beam_size=b)
    with tempfile.TemporaryDirectory() as tmp:
        if "ctranslate2-float32" in systems:
            ct2 = CT2Translator(load_run(run, None), export_ctranslate2(run, Path(tmp) / "ct2"), threads)
            runners["ctranslate2-float32"] = lambda b: ct2.translate(sources, beam_size=b)
        for beam in (1, 5):
            for system, fn in runners.items():
                hyps = fn(beam)
                median, times = timed(lambda fn=fn, b=beam: fn(b), repeats)
                bleu = sacrebleu.corpus_bleu(hyps, [refs]).score
                out.setdefault(system, {})[f"beam{beam}"] = {"sentences_per_s": round(len(sources) / median, 1),
                                                             "seconds": [round(t, 2) for t in times],
                                                             "bleu": round(bleu, 2)}
                print(f"{system:>24} beam {beam} ({name}): {len(sources) / median:8.1f} sentences/s, "
                      f"BLEU {bleu:.2f}", flush=True)
    return out


def profile_nmt(threads: int, sentences: int) -> dict:
    """nmt's decoding on the forced-length protocol under torch.profiler: where a step's time goes."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    cfg = ModelConfig(d_model=256, heads=4, ffn_dim=1024, encoder_layers=3, decoder_layers=3, dropout=0.0)
    model = Transformer(cfg, VOCAB, VOCAB).eval()
    sources = forced_sources()[:sentences]
    steps = -(-sentences // BATCH) * (OUT_LEN + 1)  # decoder steps per call, over all batches
    out = {"threads": threads, "sentences": sentences, "decoder_steps": steps}
    for beam in (1, 5):
        out[f"beam{beam}"] = top_ops(lambda b=beam: nmt_forced(model, sources, b), repeats=3)
    return out


def main() -> None:
    global SENTENCES
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2],
                        help="thread counts; each system is measured at each and compared at its best")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--systems", nargs="+",
                        default=["nmt", "nmt-int8", "ctranslate2-float32", "ctranslate2-int8", "hf"])
    parser.add_argument("--run", default=None, help="a trained run for the real-data figures")
    parser.add_argument("--sentences", type=int, default=1000, help="fewer for a quick check")
    parser.add_argument("--profile", type=int, default=0, metavar="SENTENCES",
                        help="only profile nmt on SENTENCES forced-length sentences, greedy and beam 5 (top operators)")
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--no-isolate", dest="isolate", action="store_false",
                        help="run every system in this process (they disturb each other: see isolated())")
    args = parser.parse_args()
    if args.profile:
        report(profile_nmt(args.threads[-1], args.profile), args.out)
        return
    if args.isolate:
        report(isolated(args), args.out)
        return
    if len(args.threads) != 1:
        parser.error("--no-isolate measures one thread count: give --threads N")
    args.threads = args.threads[0]
    torch.set_num_threads(args.threads)
    SENTENCES = args.sentences
    result = {"threads": args.threads, "repeats": args.repeats, "torch": torch.__version__,
              "forced_length": forced_protocol(args.threads, args.repeats, args.systems)}
    result["forced_length"]["ratios"] = ratios(result["forced_length"]["systems"])
    if args.run:
        result["real_data"] = real_data(args.run, args.threads, args.repeats, args.systems)
    report(result, args.out)


if __name__ == "__main__":
    main()
