"""The Ding German-English dictionary (TU Chemnitz, GPL-2.0+) as phrase pairs: what sentence corpora lack
(greetings, single words, short phrases as people type them).

One entry a line, ``German :: English``; each side holds sub-entries separated by `` | ``, aligned by position,
and a sub-entry lists synonyms separated by ``; ``. Annotations (``{n}``, ``[ugs.]``, ``(...)``, ``<...>``,
``/ABBR/``) are removed; sub-entries with gaps or alternatives (``...``, ``~``, ``/``) are left out.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from pathlib import Path

from nmt.data import clean
from nmt.errors import NmtError

DEBIAN_PATH = Path("/usr/share/trans/de-en")  # Debian's trans-de-en package puts the same file here
HOW_TO_GET = ("install Debian's trans-de-en package (apt-get install trans-de-en: /usr/share/trans/de-en), or save "
              "de-en.txt from https://ftp.tu-chemnitz.de/pub/Local/urz/ding/ as DATA_ROOT/ding/de-en.txt")

_ANNOTATION = re.compile(r"\{[^}]*\}|\[[^\]]*\]|\([^)]*\)|<[^>]*>|/[A-Z][A-Za-z]*/")
_GAPS = ("...", "…", "~", "/")


def synonyms(sub_entry: str) -> list[str]:
    """The synonyms of one sub-entry, annotations removed; those with gaps or alternatives left out."""
    out = []
    for item in sub_entry.split(";"):
        text = clean(_ANNOTATION.sub(" ", item)).replace(" ,", ",").replace(" !", "!").replace(" ?", "?")
        if text and not any(gap in text for gap in _GAPS) and not text.startswith(("-", "'")):
            out.append(text)
    return out


def entry_pairs(line: str, all_synonyms: bool = False) -> Iterator[tuple[str, str]]:
    """(German, English) pairs of one dictionary line: per aligned sub-entry the first synonym of each side, or
    every combination of them (``all_synonyms``). Comments and malformed lines give nothing."""
    if line.startswith("#") or " :: " not in line:
        return
    german, english = line.rstrip("\n").split(" :: ", 1)
    de_subs, en_subs = german.split(" | "), english.split(" | ")
    if len(de_subs) != len(en_subs):
        return
    for de, en in zip(de_subs, en_subs):
        de_words, en_words = synonyms(de), synonyms(en)
        if de_words and en_words:
            yield from (itertools.product(de_words, en_words) if all_synonyms else [(de_words[0], en_words[0])])


def read_ding(path: Path, all_synonyms: bool = False) -> tuple[list[str], list[str]]:
    """(German, English) sentences of the whole dictionary, each pair once, in file order."""
    seen: set[tuple[str, str]] = set()
    german: list[str] = []
    english: list[str] = []
    try:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                for pair in entry_pairs(line, all_synonyms):
                    if pair not in seen:
                        seen.add(pair)
                        german.append(pair[0])
                        english.append(pair[1])
    except UnicodeDecodeError:
        raise NmtError(f"{path}: not UTF-8 text; use the de-en.txt of the Ding or trans-de-en release") from None
    return german, english
