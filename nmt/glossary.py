"""Glossaries: source term -> target term pairs the translation must respect (``--glossary FILE``, a request's
``"glossary"``). Reading the TSV file and finding which terms a line contains; the search that forces the target
terms into the output is nmt/constrained.py."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

from nmt.errors import NmtError


def read_glossary(path: Path) -> dict[str, str]:
    """A UTF-8 TSV file of ``source term<TAB>target term`` lines (``#`` comments and blank lines skipped); errors
    name the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise NmtError(f"{path}: not UTF-8 text; save the glossary as UTF-8") from None
    glossary: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [part.strip() for part in line.split("\t")]
        if len(parts) != 2 or not all(parts):
            raise NmtError(f"{path}:{number}: expected 'source term<TAB>target term', got {line!r}")
        glossary[parts[0]] = parts[1]
    return glossary


def terms_in(line: str, glossary: Mapping[str, str]) -> list[str]:
    """The target terms whose source term occurs in ``line`` as whole words (ignoring case), in order of
    appearance; a longer source term wins over one inside it."""
    found: list[tuple[int, int, str]] = []  # (start, end, target term)
    for source in sorted(glossary, key=len, reverse=True):
        for match in re.finditer(rf"(?<!\w){re.escape(source)}(?!\w)", line, re.IGNORECASE):
            if all(match.end() <= start or match.start() >= end for start, end, _ in found):
                found.append((match.start(), match.end(), glossary[source]))
    return list(dict.fromkeys(target for _, _, target in sorted(found)))
