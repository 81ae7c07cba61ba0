"""Check sets scored beside BLEU: what BLEU on a corpus's validation split does not see.

- Phrases (``data.phrases``): everyday lines as people type them, each with the translations accepted for it, one
  a line, ``source<TAB>accepted<TAB>accepted...``; a translation is right when it equals one accepted line
  ignoring case, punctuation and spacing. A ``# languages: SRC-TGT`` line says which pair it is for.
- Real text (``data.realtext``): lines with names, numbers, addresses, several sentences, long sentences, each as
  ``text<TAB>sentences<TAB>span<TAB>span...``; scored by lines whole, spans kept and sentences kept. A
  ``# source: SRC`` line says which source language it is for (spans are verbatim in any target language).

Lines starting with ``#`` are comments.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from nmt.errors import NmtError

_NOT_WORD = re.compile(r"[^\w\s]")


@dataclass
class Phrase:
    src: str
    accepted: list[str]


@dataclass
class RealLine:
    src: str
    sentences: int
    spans: list[str]


def find_check_set(spec: str, key: str = "data.phrases", what: str = "phrase<TAB>accepted translation(s)") -> Path:
    """A check-set file: the path as given, else one shipped with nmt's recipes (configs/NAME)."""
    from nmt.config import SHIPPED_CONFIGS

    path = Path(spec).expanduser()
    if not path.is_file() and (SHIPPED_CONFIGS / path.name).is_file():
        path = SHIPPED_CONFIGS / path.name
    if not path.is_file():
        raise NmtError(f"{key}: {spec}: file not found; give a TSV of {what}")
    return path


def _rows(path: Path, key: str, field: str, want: str | None) -> list[tuple[int, str]]:
    """(line number, line) of a check set's entries; its ``# FIELD: VALUE`` line, when there is one, must say
    ``want`` (the run's languages), else the error names ``key``."""
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        head, _, value = line.lstrip("# ").partition(":")
        if line.startswith("#") and head.strip() == field and want and value.strip() != want:
            raise NmtError(f"{key}: {path} is for {field} {value.strip()}, this run's are {want}; name a check "
                           f"set for {want}, or set {key} to null")
        if line.strip() and not line.startswith("#"):
            rows.append((number, line))
    return rows


def read_phrases(spec: str, languages: str | None = None) -> list[Phrase]:
    """A phrase check set; ``languages`` (SRC-TGT): the run's pair, which the file's must be."""
    path = find_check_set(spec)
    phrases = []
    for number, line in _rows(path, "data.phrases", "languages", languages):
        src, *accepted = line.split("\t")
        if not src.strip() or not any(a.strip() for a in accepted):
            raise NmtError(f"{path}: line {number}: expected phrase<TAB>accepted translation[<TAB>...]")
        phrases.append(Phrase(src.strip(), [a.strip() for a in accepted if a.strip()]))
    if not phrases:
        raise NmtError(f"{path}: no phrases; add lines of phrase<TAB>accepted translation")
    return phrases


def normal(text: str) -> str:
    """Case, punctuation and spacing removed (apostrophes too: "geht's" and "gehts" are one answer)."""
    text = unicodedata.normalize("NFKC", text).casefold().replace("'", "").replace("\u2019", "")
    return " ".join(_NOT_WORD.sub(" ", text).split())


def phrase_score(translate: Callable[[list[str]], Sequence[str]], phrases: list[Phrase]) -> dict:
    """The share of ``phrases`` translated right by ``translate`` (lines -> translations), and the misses."""
    hyps = translate([p.src for p in phrases])
    misses = [{"src": p.src, "hyp": h} for p, h in zip(phrases, hyps)
              if normal(h) not in {normal(a) for a in p.accepted}]
    right = len(phrases) - len(misses)
    return {"right": right, "total": len(phrases), "score": round(100 * right / len(phrases), 2), "misses": misses}


def read_realtext(spec: str, src_lang: str | None = None) -> list[RealLine]:
    """A real-text check set; ``src_lang``: the run's source language, which the file's must be."""
    path = find_check_set(spec, "data.realtext", "text<TAB>sentences<TAB>span...")
    lines = []
    for number, line in _rows(path, "data.realtext", "source", src_lang):
        src, count, *spans = line.split("\t")
        if not src.strip() or not count.strip().isdigit() or int(count) < 1:
            raise NmtError(f"{path}: line {number}: expected text<TAB>sentence count (1 or more)<TAB>span...")
        lines.append(RealLine(src.strip(), int(count), [s for s in spans if s]))
    if not lines:
        raise NmtError(f"{path}: no lines; add lines of text<TAB>sentences<TAB>span...")
    return lines


def realtext_score(translate: Callable[[list[str]], Sequence[str]], lines: list[RealLine], tgt_lang: str) -> dict:
    """Lines whole (every span kept, every sentence there, no loop), spans kept and sentences kept, in percent,
    with the lines not whole and what is wrong with each."""
    from nmt.realtext import loop, lost_spans
    from nmt.segment import split

    hyps = translate([x.src for x in lines])
    misses, kept, sentences = [], 0, 0
    for x, hyp in zip(lines, hyps):
        lost = lost_spans(x.spans, hyp)
        found = min(split(hyp, tgt_lang).sentences, x.sentences)
        repeated = loop(x.src, hyp)
        kept, sentences = kept + len(x.spans) - len(lost), sentences + found
        if lost or found < x.sentences or repeated:
            misses.append({"src": x.src, "hyp": hyp, "lost": lost, "sentences": f"{found}/{x.sentences}",
                           "repeats": repeated})
    n_spans, n_sentences = sum(len(x.spans) for x in lines), sum(x.sentences for x in lines)
    return {"lines": len(lines), "whole": round(100 * (len(lines) - len(misses)) / len(lines), 2),
            "spans": round(100 * kept / max(n_spans, 1), 2), "sentences": round(100 * sentences / n_sentences, 2),
            "misses": misses}
