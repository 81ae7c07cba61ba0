"""Translation speed of a trained run on its test set: sentences per second, greedy and beam search.

    python scripts/bench_decode.py --run runs/multi30k-en-de --beams 1 5 --repeats 3 --out docs/bench_decode.json

Each setting is timed ``--repeats`` times over the whole test set; the median is reported.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from benchlib import report

from nmt.corpora import load_splits
from nmt.translate import Translator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--test", default=None, help="test-set name (default: the run's first)")
    parser.add_argument("--beams", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    translator = Translator.load(args.run)
    d = translator.cfg.data
    tests = load_splits(d.corpus, d.src_lang, d.tgt_lang, d.root, None, None, d.test).tests
    name = args.test or next(iter(tests))
    sources = tests[name].src
    result = {"run": args.run, "test": name, "sentences": len(sources), "batch_size": translator.cfg.decode.batch_size,
              "torch": torch.__version__, "threads": torch.get_num_threads(), "beams": {}}
    for beam in args.beams:
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            translator(sources, beam_size=beam)
            times.append(time.perf_counter() - start)
        result["beams"][str(beam)] = {"sentences_per_s_median": round(len(sources) / statistics.median(times), 1),
                                      "seconds": [round(t, 2) for t in times]}
    report(result, args.out)


if __name__ == "__main__":
    main()
