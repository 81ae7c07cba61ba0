"""Spans that must come out exactly as they went in: numbers, times, prices, e-mail addresses, URLs, file paths,
versions, codes, text in backticks.

Before the model they become placeholders (``⟦1⟧``, ``⟦2⟧``, ...: SentencePiece symbols of their own, which
training teaches the model to carry through, nmt/augment.py); after it each placeholder is replaced by the text it
stood for. Every run of digits lies inside some span, so a masked sentence holds no digit and a model kept from
writing digits cannot invent a number. Text that looks like a placeholder is a span itself: it comes back as typed.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

SLOTS = 16  # placeholders a sentence may hold; spans past them stay in the text


def placeholder(i: int) -> str:
    """The i-th placeholder, from 1."""
    return f"⟦{i}⟧"


PLACEHOLDERS = [placeholder(i) for i in range(1, SLOTS + 1)]
PLACEHOLDER = re.compile(r"⟦(\d+)⟧")
_END = r"(?<![.,;:!?)\]'\"])"  # a URL or path does not end with the sentence's punctuation
SPAN = re.compile("|".join([
    r"`[^`\n]+`",  # code in backticks
    r"⟦\d*⟧?|⟧",  # placeholder-like text typed by the user
    r"(?:https?|ftp)://[^\s<>\"]+" + _END,  # URLs
    r"www\.[^\s<>\"]+" + _END,
    r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+",  # e-mail addresses
    r"(?:~|\.{1,2})?/[\w.~-]+(?:/[\w.~-]+)+/?" + _END,  # file paths: /etc/hosts, ~/notes/a.txt, ./run.sh
    r"\b[A-Za-z]:\\[^\s<>\"]+" + _END,  # C:\Users\anna\file.txt
    r"\b[\w-]+\.(?:txt|pdf|docx?|xlsx?|csv|json|ya?ml|py|js|html?|md|png|jpe?g|gif|zip|tar|gz|exe|sh|log|xml|srt|vtt)\b",
    r"\+\d[\d ()/-]{5,}\d",  # phone numbers: +49 30 1234567
    r"[$€£¥]\s?\d+(?:[.,:]\d+)*",  # prices with the currency sign in front: $5, € 3.50
    r"\b[vV]?\d+(?:\.\d+){2,}(?:-[\w.]+)?\b",  # versions: 2.0.1, v1.2.3-beta
    r"\b\d{1,2}:\d{2}(?::\d{2})?\b",  # times: 10:30, 08:15:00
    r"\b(?=[\w-]*\d)(?=[\w-]*[^\W\d_])\w+(?:-\w+)*",  # codes mixing letters and digits: E404, Xq7-Lm2, 4th, v2
    r"\d+(?:[.,:/]\d+)*",  # numbers: 3, 249, 2,440, 3.5, 1/2 (and every other run of digits)
]))


def spans(text: str) -> list[str]:
    """The verbatim spans of ``text``, in order."""
    return [m.group() for m in SPAN.finditer(text)]


@dataclass(frozen=True)
class Masked:
    """A sentence with its spans replaced by placeholders; ``values[i]`` is what placeholder i + 1 stands for."""

    text: str
    values: tuple[str, ...]

    def restore(self, translated: str) -> tuple[str, list[str]]:
        """``translated`` with each placeholder replaced by its value (once: a repeat, or a placeholder the
        source never had, is dropped; a value is kept apart from a word or number it would run into), and the
        values the model lost (appended at the end, so nothing is dropped; a caller may flag them). One pass: a
        value may look like a placeholder itself."""
        out, at, used = [], 0, set()
        for m in PLACEHOLDER.finditer(translated):
            out.append(translated[at : m.start()])
            at, i = m.end(), int(m.group(1))
            if i in used or not 1 <= i <= len(self.values):  # dropped, with the space before it
                if out[-1].endswith(" ") and translated[at : at + 1] in (" ", ""):
                    out[-1] = out[-1][:-1]
                continue
            used.add(i)
            value, before = self.values[i - 1], "".join(out)[-1:]
            after = translated[at : at + 1]
            out.append((" " if before.isalnum() and value[:1].isalnum() else "") + value
                       + (" " if after.isalnum() and value[-1:].isalnum() and not PLACEHOLDER.match(translated, at)
                          else ""))
        text = ("".join(out) + translated[at:]).strip()
        lost = [value for i, value in enumerate(self.values, 1) if i not in used]
        if lost:
            text = " ".join([text.rstrip(), *lost]).strip()
        return text, lost


TITLES = frozenset("Mr Mrs Ms Dr Prof St Mt Jr Sr".split())  # before a name, not one
NAME_WORD = re.compile(r"\b(?:[A-Z][a-z]+|[A-Z]{2,5})\b")
WITH_NAMES = re.compile(f"(?P<span>{SPAN.pattern})|(?P<name>{NAME_WORD.pattern})")


@lru_cache(maxsize=1)
def person_names() -> frozenset[str]:
    """First and last names Faker knows (en_US, de_DE), and the first word of its German towns: names that stay
    as they are in a translation. Not its language names, which are surnames too (English, French, German) but
    translated words."""
    from faker.providers.address.de_DE import Provider as Towns
    from faker.providers.person.de_DE import Provider as German
    from faker.providers.person.en import Provider as Languages
    from faker.providers.person.en_US import Provider as English

    out: set[str] = {town.split()[0] for town in Towns.cities}
    for provider in (English, German):
        for attr in ("first_names", "first_names_male", "first_names_female", "last_names"):
            found = getattr(provider, attr, ())
            out |= set(found.keys() if isinstance(found, dict) else found)
    return frozenset(out - set(Languages.language_names))


def is_name(word: str, initial: bool, known: Callable[[str], bool],
            copied: Callable[[str], bool] | None = None) -> bool:
    """Whether a capitalised word is a name to keep as typed. ``known(w)``: the source vocabulary holds ``w`` as
    a word of its own; ``copied(w)``: so does the target vocabulary (a word both languages write alike: Boston,
    London; None when the two share one vocabulary, which cannot tell). Never a word whose lower case is a known
    word ("May I", "Will you") or a title; a person's name or a German town (Faker's) anywhere; an acronym the
    vocabulary does not know (LH); a capitalised word the vocabulary does not know inside a sentence (Leipzig); a
    known word only where the target writes it too (not Germany, Friday: the model translates those)."""
    if known(word.lower()) or word in TITLES:
        return False
    if word.isupper():
        return not known(word)
    if word in person_names():
        return True
    if not known(word):
        return not initial
    return copied is not None and copied(word)


def mask(text: str, pattern: re.Pattern = SPAN, known: Callable[[str], bool] | None = None,
         copied: Callable[[str], bool] | None = None) -> Masked:
    """Spans of ``text`` (what ``pattern`` finds; with ``known``, also the names :func:`is_name` picks, with
    ``known`` and ``copied``) -> placeholders, one per occurrence, the first ``SLOTS``."""
    values: list[str] = []
    start = len(text) - len(text.lstrip(" \"'“‘(¿¡"))

    def swap(m: re.Match) -> str:
        if len(values) == SLOTS or (m.lastgroup == "name"
                                    and not is_name(m.group(), m.start() <= start, known, copied)):
            return m.group()
        values.append(m.group())
        return placeholder(len(values))

    return Masked((WITH_NAMES if known else pattern).sub(swap, text), tuple(values))


def has_words(masked: str) -> bool:
    """Whether a masked sentence has anything to translate: a letter outside its placeholders."""
    return any(c.isalpha() for c in PLACEHOLDER.sub("", masked))
