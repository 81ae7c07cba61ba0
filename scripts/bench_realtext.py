"""What sentence splitting and verbatim spans cost `nmt translate`, side by side in one run: the same lines
translated with both on (the default), with splitting only, and with neither (each line one model input, spans as
typed), medians of --repeats; the time preparing the inputs takes alone (split + mask + restore, no model); how
many lines had spans and how many outputs verbatim changed.

    python scripts/bench_realtext.py --run runs/tatoeba-en-de --lines ../shared/data/multi30k/test_2016_flickr.en \
        --out docs/bench_realtext.json
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import report  # noqa: E402

from nmt.realtext import finish  # noqa: E402
from nmt.translate import Translator, prepare_lines  # noqa: E402
from nmt.verbatim import spans  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--lines", type=Path, required=True)
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    translator = Translator.load(args.run, device="cpu")
    lines = args.lines.read_text(encoding="utf-8").splitlines()[: args.limit]
    modes = {"split + verbatim (default)": {}, "split only": {"verbatim": False},
             "neither": {"verbatim": False, "split_sentences": False}}
    times: dict[str, list[float]] = {name: [] for name in modes}
    outputs: dict[str, list[str]] = {}
    for _ in range(args.repeats):  # interleaved, so a change in the machine's load falls on every mode alike
        for name, changes in modes.items():
            start = time.perf_counter()
            outputs[name] = translator(lines, **changes)
            times[name].append(time.perf_counter() - start)
    decode = translator.settings()
    prep_times = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        prep = prepare_lines(translator.tok, translator.cfg.model.max_positions, lines, decode,
                             translator.cfg.data.src_lang)
        finish(prep, [[] for _ in prep.inputs])
        prep_times.append(time.perf_counter() - start)
    base = statistics.median(times["neither"])
    result = {
        "run": args.run, "lines": len(lines), "source": str(args.lines), "threads": args.threads,
        "repeats": args.repeats, "beam_size": decode.beam_size,
        "seconds_median": {name: round(statistics.median(t), 3) for name, t in times.items()},
        "ratio_to_neither": {name: round(statistics.median(t) / base, 3) for name, t in times.items()},
        "prepare_and_restore_seconds_median": round(statistics.median(prep_times), 4),
        "model_inputs": len(prep.inputs),
        "lines_with_spans": sum(bool(spans(line)) for line in lines),
        "outputs_changed_by_verbatim": sum(a != b for a, b in zip(outputs["split + verbatim (default)"],
                                                                    outputs["split only"])),
    }
    report(result, args.out)


if __name__ == "__main__":
    main()
