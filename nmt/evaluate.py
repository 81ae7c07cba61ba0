"""Scoring with sacreBLEU: BLEU, chrF and TER, each with its signature."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sacrebleu.metrics import BLEU, CHRF, TER

from nmt.corpora import load_splits
from nmt.data import read_lines
from nmt.errors import NmtError
from nmt.files import atomic_write_text
from nmt.phrases import phrase_score, read_phrases, read_realtext, realtext_score
from nmt.translate import Translator

METRICS = ("bleu", "chrf", "ter")


def score(hyps: list[str], refs: list[str], tgt_lang: str | None = None,
          metrics: tuple[str, ...] = METRICS) -> dict[str, dict[str, Any]]:
    """Corpus BLEU, chrF and TER (or those of ``metrics``) of ``hyps`` against one reference each."""
    if len(hyps) != len(refs):
        raise NmtError(f"{len(hyps)} hypotheses but {len(refs)} references; they must have one line each")
    scorers = {"bleu": lambda: BLEU(trg_lang=tgt_lang or ""), "chrf": CHRF, "ter": TER}
    out = {}
    for name in metrics:
        metric = scorers[name]()
        result = metric.corpus_score(hyps, [refs])
        out[name] = {"score": round(result.score, 2), "signature": str(metric.get_signature()),
                     "text": str(result)}
    return out


def score_files(hyp: Path, ref: Path) -> dict[str, dict[str, Any]]:
    """Score a hypothesis file against a reference file (one sentence per line)."""
    hyps, refs = read_lines(hyp), read_lines(ref)
    if len(hyps) != len(refs):
        raise NmtError(f"{hyp} has {len(hyps)} lines but {ref} has {len(refs)}; "
                       "hypotheses and references need one line per sentence")
    return score(hyps, refs)


def evaluate_run(translator: Translator, hyp_dir: Path | None = None, corpus: str | None = None,
                 ) -> dict[str, dict[str, dict[str, Any]]]:
    """Decode each of the run's test sets (or those of the named ``corpus``, in the run's languages) and score
    it; hypotheses are also written to ``hyp_dir`` if given. A run with a phrase check set (``data.phrases``)
    gets its score too, under ``phrases``, and one with a real-text check set (``data.realtext``) under
    ``realtext``."""
    d = translator.cfg.data
    splits = load_splits(corpus or d.corpus, d.src_lang, d.tgt_lang, d.root, None, None, {} if corpus else d.test)
    if not splits.tests:
        raise NmtError(f"{translator.run_dir}: the run's config names no test set; set data.test or score "
                       "files with --hyp and --ref")
    results = {}
    for name, data in splits.tests.items():
        hyps = translator(data.src)
        if hyp_dir is not None:
            atomic_write_text(hyp_dir / f"{name}.hyp.{d.tgt_lang}", "\n".join(hyps) + "\n")
        results[name] = score(hyps, data.tgt, d.tgt_lang)
        results[name]["sentences"] = len(hyps)  # type: ignore[assignment]
    if d.phrases and not corpus:
        results["phrases"] = phrase_score(translator, read_phrases(d.phrases, f"{d.src_lang}-{d.tgt_lang}"))
    if d.realtext and not corpus:
        results["realtext"] = realtext_score(translator, read_realtext(d.realtext, d.src_lang), d.tgt_lang)
    return results
