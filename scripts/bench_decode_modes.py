"""Glossary and sampling against plain search, side by side in one run: BLEU, term use and sentences/s.

Glossary terms are oracle terms, as in Post & Vilar (2018) and the terminology work after it: from the Ding
dictionary's one-word pairs, for each test sentence the longest English word of the source whose German side is in
the reference but not in the plain beam output (so that each term fixes something). Two ways of using them:
"glossary_per_line" gives each line its own term (a glossary per request, the setting of the terminology papers);
"glossary_shared" puts all of them into one glossary for the whole test set, as a user's terminology list would
(a term then also applies to the other lines that hold its source word, in whatever inflection the reference
there has). Reported: BLEU without and with the glossary, the lines holding glossary terms, whether every term is
in the output (the search guarantees it), whether the other lines are unchanged, and sentences/s of each mode (per
line: one call per line; shared: one call, the constrained lines batched among themselves). Sampling: BLEU and sentences/s of one sample per line (topk:10,
topp:0.9) against greedy search.

    python scripts/bench_decode_modes.py --run runs/multi30k-en-de --out docs/bench_decode_modes.json
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import report  # noqa: E402

from nmt.corpora import ding, load_splits  # noqa: E402
from nmt.evaluate import score  # noqa: E402
from nmt.glossary import terms_in  # noqa: E402
from nmt.translate import Translator  # noqa: E402


def words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def oracle_terms(src: list[str], refs: list[str], plain: list[str], root: str | None) -> dict[int, dict[str, str]]:
    """Line index -> its one Ding term, for the lines where one helps (see the module docstring)."""
    pairs = ding("en", "de", root).train
    assert pairs is not None
    dictionary: dict[str, set[str]] = {}
    for en, de in zip(pairs.src, pairs.tgt):
        if " " not in en and " " not in de and len(en) > 3:
            dictionary.setdefault(en.lower(), set()).add(de)
    terms: dict[int, dict[str, str]] = {}
    for i, (line, ref, out) in enumerate(zip(src, refs, plain)):
        in_ref, in_out = set(words(ref)), set(words(out))
        helpful = [(len(w), w.lower(), de) for w in words(line) for de in sorted(dictionary.get(w.lower(), ()))
                   if de in in_ref and de not in in_out]
        if helpful:
            _, en, de = max(helpful)
            terms[i] = {en: de}
    return terms


def glossary_figures(src: list[str], plain: list[str], forced: list[str], glossaries: dict[int, dict[str, str]],
                     seconds: float, beam_speed: float, bleu: Callable[[list[str]], float]) -> dict[str, Any]:
    """BLEU, term use, untouched lines and speed of one glossary mode (``glossaries``: line -> its terms)."""
    held = [i for i, line in enumerate(src) if terms_in(line, glossaries.get(i, {}))]
    n = len(src)
    return {
        "terms": len({term for g in glossaries.values() for term in g.items()}), "lines_with_terms": len(held),
        "bleu": bleu(forced),
        "every_term_in_output": all(t in words(forced[i]) for i in held  # one-word terms
                                    for t in terms_in(src[i], glossaries[i])),
        "other_lines_unchanged": all(forced[i] == plain[i] for i in set(range(n)) - set(held)),
        "sentences_per_s": round(n / seconds, 1), "slowdown_vs_beam": round(beam_speed / (n / seconds), 2),
    }


def timed(fn: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2], out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", required=True)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--lines", type=int, default=0, help="the first N test lines (0: all)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--data-root", default=None)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    translator = Translator.load(args.run, device="cpu")
    d = translator.cfg.data
    name, test = next(iter(load_splits(d.corpus, d.src_lang, d.tgt_lang, d.root, None, None, d.test).tests.items()))
    src, refs = (test.src, test.tgt) if not args.lines else (test.src[: args.lines], test.tgt[: args.lines])
    n, lang = len(src), d.tgt_lang

    def bleu(hyps: list[str]) -> float:
        return round(score(hyps, refs, lang, ("bleu",))["bleu"]["score"], 2)

    results: dict[str, Any] = {"run": args.run, "test_set": name, "sentences": n, "beam_size": args.beam,
                               "threads": args.threads}
    seconds, plain = timed(lambda: translator(src, args.beam), args.repeats)
    results["beam"] = {"bleu": bleu(plain), "sentences_per_s": round(n / seconds, 1)}
    beam_speed = results["beam"]["sentences_per_s"]
    per_line = oracle_terms(src, refs, plain, args.data_root)
    rest = [i for i in range(n) if i not in per_line]

    def each_own() -> list[str]:
        out = [""] * n
        for i, hyp in zip(rest, translator([src[i] for i in rest], args.beam)):
            out[i] = hyp
        for i, glossary in per_line.items():
            out[i] = translator([src[i]], args.beam, glossary=glossary)[0]
        return out

    seconds, forced = timed(each_own, args.repeats)
    results["glossary_per_line"] = glossary_figures(src, plain, forced, per_line, seconds, beam_speed, bleu)
    shared: dict[str, str] = {}
    for glossary in per_line.values():
        for en, de in glossary.items():
            shared.setdefault(en, de)
    seconds, forced = timed(lambda: translator(src, args.beam, glossary=shared), args.repeats)
    results["glossary_shared"] = glossary_figures(src, plain, forced, dict.fromkeys(range(n), shared), seconds,
                                                  beam_speed, bleu)
    seconds, greedy = timed(lambda: translator(src, 1), args.repeats)
    results["greedy"] = {"bleu": bleu(greedy), "sentences_per_s": round(n / seconds, 1)}
    for spec in ("topk:10", "topp:0.9"):
        seconds, sampled = timed(lambda spec=spec: translator(src, sampling=spec, seed=1), args.repeats)
        results[spec] = {"bleu": bleu(sampled), "sentences_per_s": round(n / seconds, 1),
                         "speed_vs_greedy": round((n / seconds) / results["greedy"]["sentences_per_s"], 2)}
    report(results, args.out)


if __name__ == "__main__":
    main()
