"""Translating a stream: lines are read lazily, translated a chunk at a time and written out, in input order, as
each chunk is done, so memory stays flat however long the input is. ``-o FILE`` is written to a temporary file
beside it that replaces FILE only when the whole input is translated: stopped halfway (Ctrl-C, bad input), FILE
is untouched. Engine-agnostic: the caller passes the function that turns a chunk of lines into output lines.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import IO, TypeVar

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from nmt.errors import NmtError
from nmt.files import atomic_write

T = TypeVar("T")

# (a chunk of input lines, the 0-based number of its first line) -> the lines to write for them
ChunkTranslator = Callable[[list[str], int], list[str]]
CHUNK_BATCHES = 16  # a chunk is this many decoding batches: length-sorted batches within it stay full


@dataclass
class Source:
    """What to translate: sentences given as arguments, a file, or stdin (typed at a terminal: each line is
    translated as soon as it is entered)."""

    lines: Iterable[str]
    total: int | None  # number of lines, when known before reading them
    interactive: bool = False

    @classmethod
    def of(cls, text: list[str] | None, path: Path | None) -> Source:
        if text:
            return cls(text, len(text))
        if path is not None:
            lines = iter_lines(path)  # checks that the file is there
            return cls(lines, count_lines(path))
        return cls(iter_lines(None), None, sys.stdin.isatty())

    def chunk_lines(self, batch_size: int) -> int:
        return 1 if self.interactive else batch_size * CHUNK_BATCHES


def translate_input(translate: ChunkTranslator, text: list[str] | None, path: Path | None, output: Path | None,
                    batch_size: int) -> int:
    """Translate sentences given as ``text``, else the file ``path``, else stdin (see :class:`Source`), in chunks
    of ``batch_size`` x CHUNK_BATCHES lines, with :func:`translate_stream`; returns the number of lines."""
    source = Source.of(text, path)
    if source.interactive:
        print("Type a sentence and press Enter; Ctrl-D ends.", file=sys.stderr)
    return translate_stream(translate, source.lines, output, source.chunk_lines(batch_size), source.total)


def iter_lines(path: Path | None) -> Iterator[str]:
    """Lines of a file or (``None``) stdin, one at a time, without their line ends; empty lines kept. Not UTF-8
    or binary data is a one-line error naming the line."""
    check_input(path)
    return _decoded(path)


def _decoded(path: Path | None) -> Iterator[str]:
    name = "stdin" if path is None else str(path)
    handle = sys.stdin.buffer if path is None else path.open("rb")
    try:
        for number, raw in enumerate(handle, 1):
            line = raw[:-1] if raw.endswith(b"\n") else raw
            if b"\0" in line:
                raise NmtError(f"{name}: line {number}: binary data (NUL byte); give UTF-8 text")
            try:
                yield line.decode("utf-8").rstrip("\r")
            except UnicodeDecodeError:
                raise not_utf8(name, number) from None
    finally:
        if path is not None:
            handle.close()


def count_lines(path: Path) -> int:
    """Lines in a file (a last line without a newline counts), read in blocks: for the progress bar's total."""
    count, last = 0, b"\n"
    with path.open("rb") as handle:
        while block := handle.read(1 << 20):
            count += block.count(b"\n")
            last = block[-1:]
    return count + (last != b"\n")


def chunks(lines: Iterable[str], size: int) -> Iterator[list[str]]:
    """Consecutive lists of at most ``size`` lines; a list is taken only when the previous one is done."""
    it = iter(lines)
    while chunk := list(islice(it, size)):
        yield chunk


def progress_bar(total: int | None, to_terminal: bool, unit: str = "lines") -> Progress:
    """``unit`` done (of ``total`` when known), their rate and the ETA, on stderr; shown only when stderr is a
    terminal and the translations are not being printed to that terminal (``to_terminal``). ``unit``: lines or
    texts (with a "rate" field per second), or bytes (of a document read as it is translated)."""
    console = Console(stderr=True)
    if unit == "bytes":
        counted = [DownloadColumn(), BarColumn(), TransferSpeedColumn()]
    else:
        counted = [MofNCompleteColumn() if total else TextColumn("{task.completed:,}"), BarColumn(),
                   TextColumn(f"{{task.fields[rate]}} {'sent' if unit == 'lines' else unit}/s")]
    return Progress(TextColumn(unit), *counted, TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, disable=not console.is_terminal or to_terminal, redirect_stdout=False)


def not_utf8(name: str, line: int) -> NmtError:
    return NmtError(f"{name}: line {line}: not UTF-8 text; convert it (e.g. with iconv)")


def translate_stream(translate: ChunkTranslator, lines: Iterable[str], output: Path | None = None,
                     chunk_lines: int = 1024, total: int | None = None) -> int:
    """Translate ``lines`` a chunk of ``chunk_lines`` at a time (1 for interactive use: each line as soon as it is
    entered) and write each chunk's output lines, in order, to stdout (flushed per chunk) or ``output`` (through
    a temporary file renamed at the end); returns the number of input lines. ``total`` (input lines, when known)
    gives the progress bar its end and ETA."""
    try:
        return written(output, lambda out: _run(translate, lines, out, chunk_lines, total))
    except BrokenPipeError:  # the reader went away (`nmt translate ... | head`): stop quietly
        if output is not None:
            raise
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (no second error when Python flushes stdout at exit)
        return 0


def written(output: Path | None, write: Callable[[IO[str]], T]) -> T:
    """``write(handle)`` into stdout (``output`` None) or into a temporary file beside ``output``, renamed over it
    only when ``write`` has returned: stopped halfway, ``output`` is as it was."""
    if output is None:
        return write(sys.stdout)
    if output.is_dir():
        raise NmtError(f"{output}: is a folder; give --output a file name")
    result: list[T] = []

    def into(tmp: Path) -> None:
        with tmp.open("w", encoding="utf-8", newline="\n") as handle:
            result.append(write(handle))

    atomic_write(output, into)
    return result[0]


def check_input(path: Path | None) -> None:
    if path is not None and not path.is_file():
        raise NmtError(f"{path}: input file not found")


def _run(translate: ChunkTranslator, lines: Iterable[str], out: IO[str], chunk_lines: int, total: int | None) -> int:
    done = 0
    with progress_bar(total, out is sys.stdout and sys.stdout.isatty()) as progress:
        task = progress.add_task("translate", total=total, rate="-")
        start = time.perf_counter()
        for chunk in chunks(lines, chunk_lines):
            out.write("".join(line + "\n" for line in translate(chunk, done)))
            out.flush()
            done += len(chunk)
            progress.update(task, completed=done, rate=f"{done / (time.perf_counter() - start):,.1f}")
    return done
