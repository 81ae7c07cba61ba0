"""Real text <-> model inputs: lines become sentences (nmt/segment.py) whose verbatim spans become placeholders
(nmt/verbatim.py); the translated units are restored and joined with the lines' own gaps. Engine-agnostic: the
PyTorch search and CTranslate2 both translate :attr:`Prepared.inputs`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import NamedTuple

from nmt.segment import Segmented, cut, split
from nmt.verbatim import Masked, has_words, mask, spans


class Translation(NamedTuple):
    """One hypothesis: its text, the search's score (beam: log-probability / GNMT length penalty; greedy: the
    log-probability) and the log-probability (the sum over output tokens, </s> included). A line of several
    units scores the sum over its units."""

    text: str
    score: float
    log_prob: float


@dataclass(frozen=True)
class Prepared:
    """Texts as model inputs: ``inputs[j]`` is unit j as the model reads it ("" for a unit copied as it is: no
    word to translate), in text order."""

    segs: list[Segmented]
    masks: list[Masked]
    inputs: list[str]

    def units_of(self) -> list[range]:
        """Per text, the indices of its units."""
        out, at = [], 0
        for seg in self.segs:
            out.append(range(at, at + len(seg.units)))
            at += len(seg.units)
        return out


def prepare(texts: Sequence[str], lang: str, split_sentences: bool = True, protect: bool = False,
            too_long: Callable[[list[str]], list[bool]] | None = None, known: Callable[[str], bool] | None = None,
            copied: Callable[[str], bool] | None = None) -> Prepared:
    """Each text cut into units (sentences, or lines when not ``split_sentences``; then parts where ``too_long``
    refuses the masked unit: it answers for a list at once), spans masked when ``protect`` (names too, given the
    source vocabulary's ``known`` and the target's ``copied``: nmt/verbatim.py)."""

    @cache  # cut() asks about each whole unit, then the unit is masked for the model
    def masked(piece: str) -> Masked:
        return mask(piece, known=known, copied=copied) if protect else Masked(piece, ())

    segs = [split(text, lang, split_sentences) for text in texts]
    if too_long is not None:  # one question for every whole unit; only the lines with a unit too long are cut
        whole = [masked(piece).text for seg in segs for piece in seg.pieces()]
        answers = dict(zip(whole, too_long(whole)))

        def refused(piece: str) -> bool:  # a whole unit's answer is known; a part of one is asked
            text = masked(piece).text
            return answers[text] if text in answers else too_long([text])[0]

        segs = [cut(seg, refused) if any(answers[masked(piece).text] for piece in seg.pieces()) else seg
                for seg in segs]
    masks = [masked(piece) for seg in segs for piece in seg.pieces()]
    return Prepared(segs, masks, [m.text if has_words(m.text) else "" for m in masks])


def finish(prep: Prepared, found: Sequence[Sequence[Translation]]) -> list[list[Translation]]:
    """Per text, its n-best list from the units' n-best lists ``found`` (one per input): the k-th candidate
    joins each unit's k-th hypothesis (its last where it has fewer), placeholders restored, gaps as in the text."""
    out: list[list[Translation]] = []
    for seg, units in zip(prep.segs, prep.units_of()):
        pieces = seg.pieces()
        if not units:  # nothing but whitespace: an empty translation, as for an empty line
            out.append([Translation("", 0.0, 0.0)])
            continue
        depth = max(len(found[j]) if prep.inputs[j] else 1 for j in units)
        nbest = []
        for k in range(depth):
            texts, score, log_prob = [], 0.0, 0.0
            for piece, j in zip(pieces, units):
                if not prep.inputs[j] or not found[j]:
                    texts.append(piece)
                    continue
                best = found[j][min(k, len(found[j]) - 1)]
                texts.append(prep.masks[j].restore(best.text)[0])
                score, log_prob = score + best.score, log_prob + best.log_prob
            nbest.append(Translation(seg.join(texts), score, log_prob))
        out.append(nbest)
    return out


REPEAT = re.compile(r"\b(\w+(?:\W+\w+){0,3}?)(?:\W+\1\b){2,}", re.UNICODE)  # a 1-4 word n-gram three times in a row


def lost_spans(wanted: Sequence[str], output: str) -> list[str]:
    """The strings of ``wanted`` (each as often as listed) that ``output`` does not hold as often."""
    have = {s: output.count(s) for s in set(wanted)}
    return [s for s, n in Counter(wanted).items() if have[s] < n]


def loop(source: str, output: str) -> str | None:
    """A word or phrase the output repeats three times in a row (and the source does not): a decoding loop."""
    found = REPEAT.search(output)
    return found.group()[:60] if found and not REPEAT.search(source) else None


def check(source: str, output: str, src_lang: str, tgt_lang: str) -> list[str]:
    """What may be wrong with ``output`` as a translation of ``source``: a verbatim span lost, fewer sentences
    than the source, a word or phrase repeated three times in a row (a loop). Empty: nothing seen."""
    warnings = []
    lost = lost_spans(spans(source), output)
    if lost:
        warnings.append("lost: " + ", ".join(lost))
    n_src, n_out = split(source, src_lang).sentences, split(output, tgt_lang).sentences
    if n_out < n_src:
        warnings.append(f"sentences: {n_src} in, {n_out} out")
    repeated = loop(source, output)
    if repeated:
        warnings.append(f"repeats: {repeated!r}")
    return warnings
