"""Text -> sentences with the gaps between them, and back (Bergamot's AnnotatedText: gap, sentence, gap, ...).

A text becomes units (character ranges of its sentences, or parts of a sentence too long for the model); what lies
between units (spaces, tabs, newlines) is kept as it was and put back around the translations. Sentences come from
sentencex (Wikimedia's splitter: per-language abbreviations, character offsets); a newline always ends a unit.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from dataclasses import dataclass

import sentencex

LANG_TAG = re.compile(r"[a-z]{2,3}(?:[-_][A-Za-z0-9]+)*")
FALLBACK_LANG = "en"  # sentencex's last fallback too: punctuation rules without a language's abbreviations
_warned: set[str] = set()


def splitter_lang(lang: str) -> str:
    """The language code sentencex is asked for: ``lang`` when it is a language tag (sentencex falls back through
    related languages to English rules), else English rules and one warning per process."""
    if LANG_TAG.fullmatch(lang):
        return lang.split("_")[0].split("-")[0]
    if lang not in _warned:
        _warned.add(lang)
        print(f"warning: {lang!r} is not a language code the sentence splitter knows; splitting with its "
              f"{FALLBACK_LANG!r} rules", file=sys.stderr)
    return FALLBACK_LANG


@dataclass(frozen=True)
class Unit:
    """One model input: characters [start, end) of the text, part of sentence number ``sentence``."""

    start: int
    end: int
    sentence: int


@dataclass(frozen=True)
class Segmented:
    """A text and its units; everything outside the units is gap, copied to the output unchanged."""

    text: str
    units: tuple[Unit, ...]

    @property
    def sentences(self) -> int:
        return len({u.sentence for u in self.units})

    def pieces(self) -> list[str]:
        return [self.text[u.start : u.end] for u in self.units]

    def join(self, outputs: list[str]) -> str:
        """The text with unit i replaced by ``outputs[i]``: gap, output, gap, ..., gap."""
        assert len(outputs) == len(self.units)
        out, at = [], 0
        for unit, translated in zip(self.units, outputs):
            out += [self.text[at : unit.start], translated]
            at = unit.end
        return "".join(out) + self.text[at:]


def _stripped(text: str, start: int, end: int) -> tuple[int, int]:
    """[start, end) without the whitespace at either end."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def split(text: str, lang: str, sentences: bool = True) -> Segmented:
    """``text`` cut into sentences (``sentences``: False: one unit per line), whitespace left in the gaps."""
    units: list[Unit] = []
    at = 0
    for line in text.split("\n"):
        ranges = [(at, at + len(line))]
        if sentences and line.strip():
            found = sentencex.get_sentence_boundaries(splitter_lang(lang), line)
            ranges = [(at + b["start_index"], at + b["end_index"]) for b in found] or ranges
        for start, end in ranges:
            start, end = _stripped(text, start, end)
            if start < end:
                units.append(Unit(start, end, len(units)))
        at += len(line) + 1
    return Segmented(text, tuple(units))


# Where a long sentence is cut, best first: after a semicolon or colon, after a comma, before a conjunction, at a
# space; a text without spaces is cut evenly.
BREAKS = (
    re.compile(r"[;:](?=\s)"),
    re.compile(r",(?=\s)"),
    re.compile(r"(?<=\s)(?=(?:and|but|or|because|which|while|although|und|aber|oder|weil|denn|et|mais|ou)\s)"),
    re.compile(r"(?<=\S)(?=\s)"),
)


def cut(seg: Segmented, too_long: Callable[[str], bool]) -> Segmented:
    """Units that ``too_long`` refuses cut at their best breaks (the one nearest the middle of the best kind),
    again until every part fits: nothing is ever truncated."""
    units: list[Unit] = []
    for unit in seg.units:
        units += _cut(seg.text, unit, too_long)
    return Segmented(seg.text, tuple(units))


def _cut(text: str, unit: Unit, too_long: Callable[[str], bool]) -> list[Unit]:
    piece = text[unit.start : unit.end]
    if unit.end - unit.start < 2 or not too_long(piece):
        return [unit]
    middle = len(piece) / 2
    at = None
    for pattern in BREAKS:
        ends = [m.end() for m in pattern.finditer(piece) if 0 < m.end() < len(piece)]
        if ends:
            at = min(ends, key=lambda e: abs(e - middle))
            break
    if at is None:
        at = len(piece) // 2
    left, right = _stripped(text, unit.start, unit.start + at), _stripped(text, unit.start + at, unit.end)
    return [part for start, end in (left, right) if start < end
            for part in _cut(text, Unit(start, end, unit.sentence), too_long)]
