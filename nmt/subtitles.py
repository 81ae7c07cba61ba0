"""Subtitles: .srt (the ``srt`` package) and .vtt (``webvtt-py``) translated cue by cue. Indices, timings, cue
settings, comments, styles and the file's BOM stay as they were; a cue's lines are joined into one text for the
model and its translation is wrapped again to at most 42 characters a line and 2 lines a cue (broken at the space
that evens the lines; a translation too long for 2 x 42 keeps 2 longer lines: nothing is cut).

Styling tags (``<i>``, ``<b>``, ``<u>``, ``<font ...>``, ``<c.yellow>``, ``<v Anna>``) never reach the model. A tag
pair around the whole cue (or a voice tag in front of it) is kept around its translation. In a cue whose tags mark
parts of it, each line is translated on its own with the tags around it; tags inside a line go around that line's
translation (the words they marked are not found in the translation yet: nothing is lost, the markup is wider).

``--merge-cues`` (opt-in): a sentence that runs over several cues (up to 4; each but the last without a final
mark) is translated as one text, and its translation is split back over those cues by their lengths.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate

from nmt.errors import NmtError

LINE_CHARS = 42  # and two lines a cue
BOM = "\ufeff"
TAG = re.compile(r"</?[A-Za-z][^<>]*>")
SRT_TIMING = re.compile(r"^\s*\d+:\d{2}:\d{2}[,.]\d{1,3}\s*-->\s*\d+:\d{2}:\d{2}[,.]\d{1,3}(?:\s.*)?$")
VTT_TIMING = re.compile(r"^\s*(?:\d+:)?\d{2}:\d{2}\.\d{3}\s+-->\s+(?:\d+:)?\d{2}:\d{2}\.\d{3}(?:\s.*)?$")

Translate = Callable[[list[str]], list[str]]


def wrap(text: str, width: int = LINE_CHARS) -> str:
    """``text`` on one line if it fits ``width`` characters, else on two, broken at the space that makes the longer
    line shortest (tags count as no width and stay beside their words); never cut: a text longer than two lines
    of ``width`` gets two longer lines."""
    at, plain = 0, []  # plain: the index in ``text`` of each character outside the tags
    while at < len(text):
        tag = TAG.match(text, at)
        if tag is not None:
            at = tag.end()
            continue
        plain.append(at)
        at += 1
    if len(plain) <= width:
        return text
    spaces = [k for k in range(1, len(plain) - 1) if text[plain[k]] == " "]
    if not spaces:
        return text
    k = min(spaces, key=lambda k: max(k, len(plain) - k - 1))
    return text[: plain[k]] + "\n" + text[plain[k] + 1 :]


@dataclass(frozen=True)
class Cue:
    """One cue's text: ``texts`` go to the model, ``frames`` (per text, the markup before and after it) come
    back around their translations; ``per_line``: one text per line of the cue, else the cue's lines joined."""

    texts: tuple[str, ...]
    frames: tuple[tuple[str, str], ...]
    per_line: bool

    def outer(self, translations: Sequence[str]) -> str:
        parts = [f"{before}{text}{after}" for (before, after), text in zip(self.frames, translations)]
        return "\n".join(parts) if self.per_line else wrap(parts[0])


def cue_of(content: str) -> Cue:
    """A cue's text (its lines, with tags) as what the model reads and how it comes back."""
    lines = [line.strip() for line in content.split("\n") if line.strip()]
    joined = " ".join(lines)
    before, inner, after = _frame(joined)
    if not TAG.search(inner):
        return Cue((inner,), ((before, after),), False)
    frames, texts = [], []
    for line in lines:  # tags that mark parts of the cue: line by line
        b, text, a = _frame(line)
        inside = TAG.findall(text)
        opening = "".join(t for t in inside if not t.startswith("</"))
        closing = "".join(t for t in inside if t.startswith("</"))
        frames.append((b + opening, closing + a))
        texts.append(" ".join(TAG.sub("", text).split()))
    return Cue(tuple(texts), tuple(frames), True)


def _frame(text: str) -> tuple[str, str, str]:
    """(markup before, text, markup after): leading tags, and a closing tag at the end for each of them."""
    before = ""
    while (m := TAG.match(text)) is not None:
        before, text = before + m.group(), text[m.end() :].lstrip()
    after = ""
    while (m := re.search(r"</[^<>]*>\s*$", text)) is not None and _opens_in(before, m.group().strip()):
        after, text = m.group().strip() + after, text[: m.start()].rstrip()
    return before, text, after


def _opens_in(before: str, closing: str) -> bool:
    name = closing[2:-1].split(".")[0].strip()
    return any(t[1:].split(".")[0].split()[0].rstrip(">") == name for t in TAG.findall(before))


SENTENCE_END = re.compile(r"[.!?…♪][\"'»”’)\]]*$")  # a cue that ends its sentence
MERGED_CUES = 4  # at most this many cues translated as one sentence


def translate_cues(contents: list[str], translate: Translate, merge: bool = False) -> list[str]:
    """Each cue's content translated (all cues' texts in one call, so they are batched), tags kept. ``merge``:
    consecutive cues whose sentence runs on (no final mark) are translated as one text and the translation is
    split back over them by their lengths (at the word gap nearest each cue's share, a punctuation mark
    preferred), so the model reads whole sentences."""
    cues = [cue_of(content) for content in contents]
    groups = _runs(cues) if merge else [[k] for k in range(len(cues))]
    asked = [[" ".join(cues[k].texts[0] for k in group)] if len(group) > 1 else list(cues[group[0]].texts)
             for group in groups]
    flat = [text for texts in asked for text in texts]
    out = iter(translate(flat) if flat else [])
    done: list[str] = []
    for group, texts in zip(groups, asked):
        found = [next(out) for _ in texts]
        if len(group) == 1:
            done.append(cues[group[0]].outer(found))
        else:
            done += [cues[k].outer([part]) for k, part in
                     zip(group, split_by_length(found[0], [len(cues[k].texts[0]) for k in group]))]
    return done


def _runs(cues: list[Cue]) -> list[list[int]]:
    """Cues grouped for ``--merge-cues``: a run of one-text cues, each but the last without a final mark."""
    groups: list[list[int]] = []
    for k, cue in enumerate(cues):
        if (groups and len(groups[-1]) < MERGED_CUES and _joinable(cue) and _joinable(prev := cues[groups[-1][-1]])
                and not SENTENCE_END.search(prev.texts[0])):
            groups[-1].append(k)
        else:
            groups.append([k])
    return groups


def _joinable(cue: Cue) -> bool:
    return not cue.per_line and cue.texts[0] != ""


def split_by_length(text: str, lengths: Sequence[int]) -> list[str]:
    """``text`` cut at word gaps into ``len(lengths)`` parts as long, relatively, as ``lengths``: each cut at the
    gap nearest its share, a gap after a punctuation mark counted as a quarter of a part nearer; every part gets
    a word while there are words enough (else the last parts are empty). The parts joined by spaces are ``text``
    with its whitespace runs as single spaces."""
    words, n = text.split(), len(lengths)
    if len(words) < n:
        return words + [""] * (n - len(words))
    ends = [end + i for i, end in enumerate(accumulate(map(len, words)))]  # character end of each word
    total, whole, bonus = ends[-1], max(sum(lengths), 1), ends[-1] / n / 4
    cuts, after = [], 0  # a cut j: the part ends after word j - 1
    for k in range(n - 1):
        share = sum(lengths[: k + 1]) / whole * total
        room = range(after + 1, len(words) - (n - 2 - k))  # a word left for each part still to come
        after = min(room, key=lambda j: abs(ends[j - 1] - share)
                    - (bonus if re.search(r"[,;:.!?\u2026]$", words[j - 1]) else 0))
        cuts.append(after)
    bounds = [0, *cuts, len(words)]
    return [" ".join(words[a:b]) for a, b in zip(bounds, bounds[1:])]


def check_timings(text: str, name: str, timing: re.Pattern, example: str) -> None:
    """Every line with "-->" must be a timing line: else a one-line error naming ``name`` and the line (the
    parsers would skip or mis-read the cue, and its text would be lost)."""
    for number, line in enumerate(text.split("\n"), 1):
        if "-->" in line and not timing.match(line):
            raise NmtError(f"{name}:{number}: not a subtitle timing line ({line.strip()[:60]!r}); write it as "
                           f"{example}")


def _as_written(text: str, translate_body: Callable[[str], str]) -> str:
    """``translate_body`` of ``text`` without its BOM and with "\n" line ends; the result written as ``text``
    was (its BOM, its CRLF line ends)."""
    out = translate_body(text.removeprefix(BOM).replace("\r\n", "\n"))
    return (BOM if text.startswith(BOM) else "") + (out.replace("\n", "\r\n") if "\r\n" in text else out)


def translate_srt(text: str, translate: Translate, name: str = "<srt>", merge: bool = False) -> str:
    """An .srt file's text, translated; everything but the cue text as it was (``merge``: see
    :func:`translate_cues`)."""
    import srt

    def body_of(body: str) -> str:
        check_timings(body, name, SRT_TIMING, "00:01:02,500 --> 00:01:04,000")
        try:
            subs = list(srt.parse(body))
        except srt.SRTParseError as err:
            line = body.count("\n", 0, err.expected_start) + 1
            raise NmtError(f"{name}:{line}: not a subtitle cue (index, timing line, text); fix or remove it") from None
        for sub, translated in zip(subs, translate_cues([sub.content for sub in subs], translate, merge)):
            sub.content = translated
        return srt.compose(subs, reindex=False)

    return _as_written(text, body_of)


def translate_vtt(text: str, translate: Translate, name: str = "<vtt>", merge: bool = False) -> str:
    """A .vtt file's text, translated; header, NOTE comments, STYLE blocks, identifiers and cue settings kept."""
    import webvtt

    def body_of(body: str) -> str:
        if not body.startswith("WEBVTT"):
            raise NmtError(f"{name}:1: a WebVTT file starts with 'WEBVTT'; is it an .srt file? (--format srt)")
        check_timings(body, name, VTT_TIMING, "00:01:02.500 --> 00:01:04.000")
        vtt = webvtt.from_string(body)
        for caption, translated in zip(vtt.captions, translate_cues([c.raw_text for c in vtt.captions], translate,
                                                                         merge)):
            caption.text = translated
        return vtt.content

    return _as_written(text, body_of)
