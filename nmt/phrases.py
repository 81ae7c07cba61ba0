"""A phrase check set: everyday lines as people type them, each with the translations accepted for it.

BLEU on a corpus's validation split does not see whether "Hello" comes out as "Hallo"; this does. A file holds one
phrase a line, ``source<TAB>accepted<TAB>accepted...``; lines starting with ``#`` are comments. A translation is
right when it equals one accepted line ignoring case, punctuation and spacing.
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


def find_phrases(spec: str) -> Path:
    """A phrase file: the path as given, else one shipped with nmt's recipes (configs/NAME)."""
    from nmt.config import SHIPPED_CONFIGS

    path = Path(spec).expanduser()
    if not path.is_file() and (SHIPPED_CONFIGS / path.name).is_file():
        path = SHIPPED_CONFIGS / path.name
    if not path.is_file():
        raise NmtError(f"data.phrases: {spec}: file not found; give a TSV of phrase<TAB>accepted translation(s)")
    return path


def read_phrases(spec: str) -> list[Phrase]:
    path = find_phrases(spec)
    phrases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
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
