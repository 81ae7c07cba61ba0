"""Documents above translation: a file's format (plain text, HTML, .srt, .vtt) picks how its text reaches the
translator and how the translations are put back. Plain text streams line by line (nmt/stream.py); a page or a
subtitle file is read whole, translated block by block (nmt/markup.py) or cue by cue (nmt/subtitles.py) and
written atomically."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

from nmt.errors import NmtError
from nmt.files import atomic_write_text
from nmt.markup import Translate

FORMATS = ("txt", "html", "srt", "vtt")
EXTENSIONS = {".html": "html", ".htm": "html", ".srt": "srt", ".vtt": "vtt"}  # any other: plain text


def format_of(path: Path | None, chosen: str | None) -> str:
    """``chosen`` (--format), else the format ``path``'s extension names, else plain text."""
    if chosen is not None:
        if chosen not in FORMATS:
            raise NmtError(f"--format {chosen!r}: choose one of {', '.join(FORMATS)}")
        return chosen
    return EXTENSIONS.get(path.suffix.lower(), "txt") if path is not None else "txt"


def translate_text(text: str, fmt: str, translate: Callable[[list[str]], list[str]],
                   align: Translate | None = None, name: str = "<text>") -> str:
    """``text`` in format ``fmt`` translated: a page (html), subtitles (srt, vtt) or lines (txt); ``align``:
    translations with word alignments where asked, which place a page's inline markup (None: ``translate``, the
    markup placed by word position); ``name`` names the text in errors."""
    from nmt.markup import translate_html
    from nmt.subtitles import translate_srt, translate_vtt

    if fmt == "html":
        return translate_html(text, align or (lambda texts, _: [(t, None) for t in translate(texts)]))
    if fmt in ("srt", "vtt"):
        return (translate_srt if fmt == "srt" else translate_vtt)(text, translate, name)
    return "".join(line + end for line, end in zip(translate(text.splitlines()), _line_ends(text)))


def _line_ends(text: str) -> list[str]:
    return [line[len(line.rstrip("\r\n")):] for line in text.splitlines(keepends=True)]


def asked(text: str, fmt: str, name: str = "<text>") -> list[str]:
    """The texts :func:`translate_text` gives the model for ``text``, without translating them (a server
    translates them its own way, then calls :func:`translate_text` with the answers)."""
    found: list[str] = []
    translate_text(text, fmt, lambda lines: found.extend(lines) or list(lines),
                   lambda lines, _: found.extend(lines) or [(line, None) for line in lines], name)
    return found


def decode_utf8(raw: bytes, name: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        line = raw.count(b"\n", 0, err.start) + 1
        raise NmtError(f"{name}: line {line}: not UTF-8 text; convert it (e.g. with iconv)") from None


def translate_document(translate: Callable[[list[str]], list[str]], path: Path | None, output: Path | None,
                       fmt: str, align: Translate | None = None) -> None:
    """A page or subtitle file (``fmt`` html, srt or vtt; ``path`` None: stdin) translated into ``output`` (None:
    stdout), as :func:`translate_text` does."""
    name = "stdin" if path is None else str(path)
    if path is not None and not path.is_file():
        raise NmtError(f"{path}: input file not found")
    raw = sys.stdin.buffer.read() if path is None else path.read_bytes()
    out = translate_text(decode_utf8(raw, name), fmt, translate, align, name)
    if output is None:
        sys.stdout.write(out)
    else:
        atomic_write_text(output, out)
