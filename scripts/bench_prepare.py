"""Preparing a corpus bigger than memory should be: a synthetic parallel corpus (default 2 million pairs) is
read, SentencePiece is trained on a sample, the pairs are tokenized and one epoch of training batches is
served, by three paths, each in a fresh process so its peak memory is its own:

- ``lists``: the corpus as Python objects (text lines and id lists), the way small corpora are often handled:
  the reference for "the corpus size in Python objects";
- ``arrow``: nmt's default store (datasets Arrow table, ``num_proc`` workers, memory-mapped cache);
- ``stream``: nmt's ``data.streaming`` store (nothing copied or cached).

Memory, per stage: the peak anonymous resident memory (RssAnon, sampled every 10 ms: what the process itself
holds) and the peak resident set so far (VmHWM, which also counts the pages of memory-mapped files it touched:
page cache the kernel can drop); for ``arrow``, the largest ``datasets.map`` worker's peak resident set.
Writes JSON (``--out``) and prints one line per path.

    python scripts/bench_prepare.py --pairs 2000000 --out docs/bench_prepare.json
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np


def make_corpus(path: Path, pairs: int, seed: int = 0) -> None:
    """Made-up sentence pairs: Zipf-distributed words from a 30,000-word vocabulary, 3-30 words a sentence;
    the target is the source words reversed, each word spelled backwards."""
    rng = np.random.default_rng(seed)
    syllables = np.array(["ka", "to", "ri", "mu", "sen", "lo", "pa", "ve", "di", "qu", "an", "el", "or", "is", "un"])
    words = sorted({"".join(rng.choice(syllables, rng.integers(1, 5))) for _ in range(40_000)})[:30_000]
    flipped = [w[::-1] for w in words]
    weights = 1.0 / np.arange(1, len(words) + 1)
    with path.open("w", encoding="utf-8") as out:
        for start in range(0, pairs, 100_000):
            n = min(100_000, pairs - start)
            lengths = rng.integers(3, 31, n)
            ids = rng.choice(len(words), int(lengths.sum()), p=weights / weights.sum())
            lines, at = [], 0
            for length in lengths.tolist():
                chunk = ids[at : at + length].tolist()
                at += length
                src = " ".join(words[i] for i in chunk)
                tgt = " ".join(flipped[i] for i in reversed(chunk))
                lines.append(f"{src.capitalize()}.\t{tgt}!\n")
            out.writelines(lines)


def _status_mib(field: str) -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


class AnonPeak(threading.Thread):
    """Samples the process's anonymous resident memory (RssAnon: what it holds itself, not file pages it has
    mapped) every 10 ms; ``take`` returns the peak since the last ``take``."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = _status_mib("RssAnon")

    def run(self) -> None:
        while True:
            self.peak = max(self.peak, _status_mib("RssAnon"))
            time.sleep(0.01)

    def take(self) -> float:
        peak, self.peak = max(self.peak, _status_mib("RssAnon")), _status_mib("RssAnon")
        return peak


def run_path(kind: str, corpus: Path, sample: int, num_proc: int, batch_tokens: int) -> dict:
    """One path, in this process: stage times (s) and the peak memory after each (MiB)."""
    clock = time.perf_counter()

    from nmt.config import TokenizerConfig
    from nmt.data import read_dataset, read_tsv, stream_pairs, token_batches
    from nmt.pairs import ArrowPairs, PairEncoder, StreamPairs
    from nmt.prepare import Reopen, _table_pairs
    from nmt.tokenizer import train_tokenizer

    cfg = TokenizerConfig(vocab_size=8000, sample_sentences=sample)
    stages: dict[str, dict] = {}
    anon = AnonPeak()
    anon.start()

    def stage(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        stages[name] = {"seconds": round(now - clock, 2), "peak_anon_mib": round(anon.take(), 1),
                        "peak_rss_mib": round(_status_mib("VmHWM"), 1)}
        clock = now

    stage("imports")
    if kind == "lists":
        text = read_tsv(corpus)
        stage("read")
        tok = train_tokenizer(cfg, list(zip(text.src, text.tgt)), seed=1)
        stage("tokenizer")
        out = PairEncoder(tok, 100, 3.0)({"src": text.src, "tgt": text.tgt})
        keep = np.flatnonzero(out["drop"] == 0)
        src = [out["src_ids"][i] for i in keep]
        tgt = [out["tgt_ids"][i] for i in keep]
        pairs = len(src)
        del out
        stage("encode")
        from nmt.data import collate

        for idx in token_batches([len(x) for x in src], [len(x) for x in tgt], batch_tokens, seed=1):
            collate([src[i] for i in idx], [tgt[i] for i in idx])
        stage("epoch")
    elif kind == "arrow":
        table = read_dataset(str(corpus), "en", "de")
        stage("read")
        tok = train_tokenizer(cfg, Reopen(_table_pairs(table)), seed=1)
        stage("tokenizer")
        store = ArrowPairs.build(table, tok, 100, 3.0, num_proc)
        pairs = len(store)
        stage("encode")
        for _ in store.batches(batch_tokens, seed=1):
            pass
        stage("epoch")
    else:
        open_pairs = stream_pairs(str(corpus), "en", "de")
        stage("read")
        tok = train_tokenizer(cfg, Reopen(open_pairs), seed=1)
        stage("tokenizer")
        store = StreamPairs(open_pairs, tok, 100, 3.0, buffer_pairs=100_000)
        stage("encode")  # nothing to do up front: each epoch encodes as it reads
        pairs = sum(len(batch.src) for _, batch in store.batches(batch_tokens, seed=1))
        stage("epoch")
    record = {"pairs_trained": pairs, "stages": stages, "peak_rss_mib": stages["epoch"]["peak_rss_mib"],
              "peak_anon_mib": max(s["peak_anon_mib"] for s in stages.values()),
              "seconds": round(sum(s["seconds"] for name, s in stages.items() if name != "imports"), 1)}
    if kind == "arrow":  # the datasets.map workers (forked)
        record["worker_peak_mib"] = round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)
    return record


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=2_000_000)
    parser.add_argument("--sample-sentences", type=int, default=1_000_000, help="tokenizer.sample_sentences")
    parser.add_argument("--num-proc", type=int, default=2)
    parser.add_argument("--batch-tokens", type=int, default=4096)
    parser.add_argument("--paths", nargs="+", default=["arrow", "stream", "lists"])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--child", nargs=2, metavar=("KIND", "CORPUS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        result = run_path(args.child[0], Path(args.child[1]), args.sample_sentences, args.num_proc,
                          args.batch_tokens)
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory() as scratch:
        corpus = Path(scratch) / "synthetic.tsv"
        started = time.perf_counter()
        make_corpus(corpus, args.pairs)
        result: dict = {"pairs": args.pairs, "corpus_mib": round(corpus.stat().st_size / 2**20, 1),
                        "sample_sentences": args.sample_sentences, "num_proc": args.num_proc,
                        "make_corpus_s": round(time.perf_counter() - started, 1), "paths": {}}
        print(f"corpus: {args.pairs:,} pairs, {result['corpus_mib']} MiB", file=sys.stderr)
        for kind in args.paths:
            env = {**os.environ, "HF_DATASETS_CACHE": str(Path(scratch) / f"cache-{kind}")}  # cold cache
            started = time.perf_counter()
            done = subprocess.run([sys.executable, __file__, "--child", kind, str(corpus),
                                   "--sample-sentences", str(args.sample_sentences), "--num-proc", str(args.num_proc),
                                   "--batch-tokens", str(args.batch_tokens)],
                                  capture_output=True, text=True, env=env, check=True)
            record = json.loads(done.stdout.strip().splitlines()[-1])
            record["wall_s"] = round(time.perf_counter() - started, 1)
            record["pairs_per_s"] = round(args.pairs / record["seconds"])  # read + tokenizer + encode + one epoch
            result["paths"][kind] = record
            print(f"{kind}: {record['seconds']} s, {record['pairs_per_s']:,} pairs/s, peak anon "
                  f"{record['peak_anon_mib']} MiB, peak RSS {record['peak_rss_mib']} MiB: "
                  f"{record['stages']}", file=sys.stderr)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
