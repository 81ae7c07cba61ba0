"""Documents above translation: a file's format (plain text, HTML, .srt, .vtt) picks how its text reaches the
translator and how the translations are put back. Plain text streams line by line (nmt/stream.py), a page stretch
by stretch of blocks (nmt/markup.py); a subtitle file is read whole and translated cue by cue (nmt/subtitles.py).
Files are written atomically."""

from __future__ import annotations

import codecs
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import IO, BinaryIO

from nmt.errors import NmtError
from nmt.markup import Translate
from nmt.stream import check_input, not_utf8, progress_bar, written

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
                   align: Translate | None = None, name: str = "<text>", merge_cues: bool = False) -> str:
    """``text`` in format ``fmt`` translated: a page (html), subtitles (srt, vtt) or lines (txt); ``align``:
    translations with word alignments where asked, which place a page's inline markup (None: ``translate``, the
    markup placed by word position); ``name`` names the text in errors; ``merge_cues``: subtitles' sentences that
    run over several cues translated whole (nmt/subtitles.py)."""
    from nmt.markup import translate_html
    from nmt.subtitles import translate_srt, translate_vtt

    if fmt == "html":
        return translate_html(text, align or _unaligned(translate))
    if fmt in ("srt", "vtt"):
        return (translate_srt if fmt == "srt" else translate_vtt)(text, translate, name, merge_cues)
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
        raise not_utf8(name, raw.count(b"\n", 0, err.start) + 1) from None


READ_BYTES = 1 << 20  # a page is read and decoded this many bytes at a time
CUE_TEXTS = 256  # subtitle texts translated between two updates of the progress bar


def read_pieces(handle: BinaryIO, name: str, advance: Callable[[int], object]) -> Iterator[str]:
    """The text of ``handle``, decoded a piece at a time (``advance`` is told the bytes read); a byte that is not
    UTF-8 is a one-line error naming its line."""
    decoder, lines = codecs.getincrementaldecoder("utf-8")(), 0
    while True:
        raw = handle.read(READ_BYTES)
        try:
            piece = decoder.decode(raw, final=not raw)
        except UnicodeDecodeError as err:
            raise not_utf8(name, lines + raw.count(b"\n", 0, max(err.start, 0)) + 1) from None
        lines += raw.count(b"\n")
        advance(len(raw))
        yield piece
        if not raw:
            return


def translate_document(translate: Callable[[list[str]], list[str]], path: Path | None, output: Path | None,
                       fmt: str, align: Translate | None = None, merge_cues: bool = False) -> None:
    """A page or subtitle file (``fmt`` html, srt or vtt; ``path`` None: stdin) translated into ``output`` (None:
    stdout; a file is written through a temporary one, renamed when done), as :func:`translate_text` does, with a
    progress bar on a terminal. A page streams: read, translated and written a stretch of blocks at a time
    (nmt/markup.py), so only that stretch is held; a subtitle file is read whole."""
    from nmt.markup import translate_html_stream

    name = "stdin" if path is None else str(path)
    check_input(path)
    total = path.stat().st_size if path is not None and fmt == "html" else None  # subtitles: texts, once read

    def write(out: IO[str]) -> None:
        with (progress_bar(total, output is None and sys.stdout.isatty(), "bytes" if fmt == "html" else "texts")
              as bar, (nullcontext(sys.stdin.buffer) if path is None else path.open("rb")) as handle):
            task = bar.add_task("translate", total=total, rate="-")
            if fmt == "html":
                pieces = read_pieces(handle, name, lambda n: bar.advance(task, n))
                for done in translate_html_stream(pieces, align or _unaligned(translate)):
                    out.write(done)
                return
            start = time.perf_counter()

            def counted(texts: list[str]) -> list[str]:  # translated CUE_TEXTS at a time, the bar told
                bar.update(task, total=len(texts))
                found: list[str] = []
                for at in range(0, len(texts), CUE_TEXTS):
                    found += translate(texts[at : at + CUE_TEXTS])
                    bar.update(task, completed=len(found), rate=f"{len(found) / (time.perf_counter() - start):,.1f}")
                return found

            out.write(translate_text(decode_utf8(handle.read(), name), fmt, counted, name=name, merge_cues=merge_cues))

    written(output, write)


def _unaligned(translate: Callable[[list[str]], list[str]]) -> Translate:
    """Translations without word alignments: a page's markup placed by word position."""
    return lambda texts, _: [(t, None) for t in translate(texts)]
