"""Training-data augmentation that teaches copying and longer lines (OpusTrainer's modifiers, as nmt's data path
needs them): each modifier takes a share of the pairs, chosen by a hash of the source, so every reader of the
corpus (SentencePiece, each tokenizing process, a resumed run) makes the same pairs.

- entities: a name or number found on both sides is replaced on both by another of its kind (Faker's names,
  cities and companies in English and German, seeded; numbers of other lengths), so the model copies what it never
  saw instead of Tatoeba's "Tom".
- placeholders: the verbatim spans (nmt/verbatim.py) and shared names become ⟦1⟧, ⟦2⟧, ... on both sides, as
  they reach the model at translate time.
- merge: a pair joined with the one or two after it (with another source), so lines with several sentences are
  seen.
- casual: copies typed as people type (nmt/data.py).
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache

from nmt.config import DataConfig
from nmt.data import casual_copies, clean
from nmt.verbatim import SLOTS, SPAN, mask, placeholder, spans

Pair = tuple[str, str]
NAME = re.compile(r"\b[A-Z][a-z]{2,}\b")
NUMBER = re.compile(r"\b\d+\b")
# spelled numbers both languages of the default recipe write; a pair with the same number on both sides gets it in
# digits, so numbers reach the model in every context Tatoeba spells them in (en, de, fr)
NUMBER_WORDS = {
    "en": "two three four five six seven eight nine ten eleven twelve twenty thirty fifty hundred".split(),
    "de": "zwei drei vier fünf sechs sieben acht neun zehn elf zwölf zwanzig dreißig fünfzig hundert".split(),
    "fr": "deux trois quatre cinq six sept huit neuf dix onze douze vingt trente cinquante cent".split(),
}
NUMBER_VALUES = [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 20, 30, 50, 100]


def _draw(text: str, salt: int) -> random.Random:
    """The pair's own draws: the same for raw or cleaned text (SentencePiece reads it raw)."""
    return random.Random(zlib.crc32(clean(text).encode("utf-8")) ^ salt)


@lru_cache(maxsize=1)
def _pools() -> tuple[list[str], ...]:
    """Faker's first names, last names, cities and companies (en_US and de_DE, seed 0): one word each."""
    from faker import Faker

    fake = Faker(["en_US", "de_DE"])
    fake.seed_instance(0)
    kinds = (fake.first_name, fake.last_name, fake.city, fake.company)
    return tuple(sorted({w for w in (make() for _ in range(3000)) if re.fullmatch(r"[A-ZÄÖÜ][\wäöüß]+", w)})
                 for make in kinds)


def _number(rng: random.Random) -> str:
    digits = rng.choice([1, 1, 2, 2, 3, 3, 4, 5, 6])
    value = str(rng.randrange(10 ** (digits - 1) if digits > 1 else 0, 10**digits))
    return value if rng.random() < 0.8 else f"{value}.{rng.randrange(10, 100)}"


def _shared(pattern: re.Pattern, src: str, tgt: str) -> list[str]:
    """Strings ``pattern`` finds in the source that the target holds as often, as whole words."""
    found = dict.fromkeys(pattern.findall(src))
    return [w for w in found if len(re.findall(rf"(?<!\w){re.escape(w)}(?!\w)", tgt)) == src.count(w)]


def _swap(text: str, old: str, new: str) -> str:
    return re.sub(rf"(?<!\w){re.escape(old)}(?!\w)", lambda _: new, text)


def spelled_to_digits(src: str, tgt: str, src_lang: str, tgt_lang: str) -> Pair:
    """A number spelled on both sides (the same value, once each) written in digits on both."""
    words_src, words_tgt = NUMBER_WORDS.get(src_lang), NUMBER_WORDS.get(tgt_lang)
    if not words_src or not words_tgt:
        return src, tgt
    for a, b, value in zip(words_src, words_tgt, NUMBER_VALUES):
        pa, pb = rf"\b{a}\b", rf"\b{b}\b"
        if len(re.findall(pa, src, re.I)) == 1 and len(re.findall(pb, tgt, re.I)) == 1:
            src, tgt = re.sub(pa, str(value), src, flags=re.I), re.sub(pb, str(value), tgt, flags=re.I)
    return src, tgt


def entities(src: str, tgt: str, rng: random.Random) -> Pair:
    """Each shared name and number replaced on both sides by a drawn one of its kind."""
    firsts, lasts, cities, companies = _pools()
    for name in _shared(NAME, src, tgt):
        pool = rng.choices((firsts, lasts, cities, companies), (6, 2, 2, 1))[0]
        new = rng.choice(pool)
        src, tgt = _swap(src, name, new), _swap(tgt, name, new)
    for number in _shared(NUMBER, src, tgt):
        new = _number(rng)
        src, tgt = _swap(src, number, new), _swap(tgt, number, new)
    return src, tgt


def placeholders(src: str, tgt: str, rng: random.Random) -> Pair:
    """The source's verbatim spans (when the target holds each as often) and, each with even odds, its shared
    names, as placeholders on both sides, numbered in source order as at translate time."""
    found = spans(src)
    if any(tgt.count(s) != src.count(s) for s in found):
        return src, tgt
    names = [n for n in _shared(NAME, src, tgt) if rng.random() < 0.5]
    if not found and not names:
        return src, tgt
    masked = mask(src, re.compile("|".join([SPAN.pattern] + [rf"(?<!\w){re.escape(n)}(?!\w)" for n in names])))
    slots: dict[str, list[int]] = {}
    for i, value in enumerate(masked.values, 1):
        slots.setdefault(value, []).append(i)
    if len(masked.values) == SLOTS or any(tgt.count(v) != len(ids) for v, ids in slots.items()):
        return src, tgt
    targets = re.compile("|".join(re.escape(v) for v in sorted(slots, key=len, reverse=True)))
    return masked.text, targets.sub(lambda m: placeholder(slots[m.group()].pop(0)), tgt)


@dataclass(frozen=True)
class Augment:
    """The training data's modifiers and their shares (``data.entities``, ``data.placeholders``, ``data.merge``,
    ``data.casual``): applied in that order, each to the pairs its hash picks."""

    entities: float = 0.0
    placeholders: float = 0.0
    merge: float = 0.0
    casual: float = 0.0
    casual_sides: str = "src"
    src_lang: str = "en"
    tgt_lang: str = "de"

    @classmethod
    def of(cls, data: DataConfig) -> Augment:
        return cls(data.entities, data.placeholders, data.merge, data.casual, data.casual_sides, data.src_lang,
                   data.tgt_lang)

    def __call__(self, pairs: Iterable[Pair]) -> Iterator[Pair]:
        return casual_copies(self._merged(self._one(src, tgt) for src, tgt in pairs), self.casual,
                             self.casual_sides)  # type: ignore[arg-type]

    def _one(self, src: str, tgt: str) -> Pair:
        if not (self.entities or self.placeholders) or not src:
            return src, tgt
        rng = _draw(src, 0x5EED)
        if rng.random() < max(self.entities, self.placeholders):
            src, tgt = spelled_to_digits(src, tgt, self.src_lang, self.tgt_lang)
        if rng.random() < self.entities:
            src, tgt = entities(src, tgt, rng)
        if rng.random() < self.placeholders:
            src, tgt = placeholders(src, tgt, rng)
        return src, tgt

    def _merged(self, pairs: Iterable[Pair]) -> Iterator[Pair]:
        if not self.merge:
            yield from pairs
            return
        held: list[Pair] = []
        want = 0
        for src, tgt in pairs:
            if not held:
                rng = _draw(src, 0x3E26E)
                want = (1 + (rng.random() < 0.3)) if rng.random() < self.merge else 0
                if not want:
                    yield src, tgt
                    continue
                held.append((src, tgt))
                continue
            if any(src == a for a, _ in held):  # Tatoeba lists one source's translations in a row: not those
                yield src, tgt
                continue
            held.append((src, tgt))
            if len(held) > want:
                yield " ".join(a for a, _ in held), " ".join(b for _, b in held)
                held = []
        if held:
            yield " ".join(a for a, _ in held), " ".join(b for _, b in held)
