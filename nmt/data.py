"""Parallel data: file specs read through `datasets`, cleaning that counts what it drops, token-budget batches."""

from __future__ import annotations

import itertools
import json
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import numpy as np
import torch
from torch import Tensor

from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.errors import NmtError

W = TypeVar("W", int, np.ndarray)


@dataclass
class Parallel:
    """Aligned source and target sentences (target may be empty when only translating)."""

    src: list[str]
    tgt: list[str]
    origin: str = ""  # where it came from, for messages

    def __len__(self) -> int:
        return len(self.src)


@dataclass
class Splits:
    train: Parallel | Any  # a named corpus's pairs, or a file spec as a datasets.Dataset (src, tgt columns)
    valid: Parallel | None
    tests: dict[str, Parallel] = field(default_factory=dict)


def _datasets():  # noqa: ANN202 - imported lazily: `datasets` takes a second to import
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def text_dataset(path: Path, streaming: bool = False):  # noqa: ANN201 - datasets.Dataset | IterableDataset
    """A UTF-8 text file as a `datasets` table with one ``text`` row per line: Arrow, memory-mapped and cached
    (``streaming``: read as it is iterated, never copied). Errors name the file and line."""
    if not path.is_file():
        raise NmtError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise NmtError(f"{path}: file is empty")
    ds = _datasets()
    try:
        return ds.load_dataset("text", data_files=str(path), split="train", streaming=streaming)
    except ds.exceptions.DatasetGenerationError as err:
        if isinstance(err.__cause__, UnicodeDecodeError) or isinstance(err.__context__, UnicodeDecodeError):
            raise not_utf8(path) from None
        raise


def not_utf8(path: Path) -> NmtError:
    return NmtError(f"{path}: line {_first_bad_utf8_line(path)}: not UTF-8 text; convert the file to UTF-8 "
                    "(e.g. with iconv)")


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file (through `datasets`); errors name the file and line."""
    return list(text_dataset(path)["text"])


def _first_bad_utf8_line(path: Path) -> int:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def read_parallel(spec: str, src_lang: str, tgt_lang: str, split: str = "train") -> Parallel:
    """Read one file spec into lists: ``x.tsv``, ``x.jsonl``, a prefix (``x.<src>`` + ``x.<tgt>``) or
    ``hub:NAME[/CONFIG]``."""
    return _as_parallel(read_dataset(spec, src_lang, tgt_lang, split))


def as_table(data: Parallel):  # noqa: ANN201 - datasets.Dataset
    """Sentence pairs held in memory as a `datasets` table with ``src`` and ``tgt`` columns (what the id stores
    take)."""
    return _named(_datasets().Dataset.from_dict({"src": data.src, "tgt": data.tgt}), data.origin)


def _as_parallel(table) -> Parallel:  # noqa: ANN001 - a datasets.Dataset with src/tgt columns
    return Parallel(list(table["src"]), list(table["tgt"]), table.info.description)


@dataclass(frozen=True)
class Spec:
    """A file spec, resolved: ``kind`` is hub, tsv, jsonl or prefix; ``paths`` the files (two for a prefix)."""

    kind: Literal["hub", "tsv", "jsonl", "prefix"]
    paths: tuple[Path, ...] = ()
    hub: tuple[str, str | None] = ("", None)  # (dataset, config) for hub:NAME[/CONFIG]


def parse_spec(spec: str, src_lang: str, tgt_lang: str) -> Spec:
    """What a file spec names: ``x.tsv``, ``x.jsonl``, a prefix (``x.<src>`` + ``x.<tgt>``) or
    ``hub:NAME[/CONFIG]``. Missing files are errors that name them."""
    if spec.startswith("hub:"):
        dataset, _, config = spec[4:].partition("/")
        return Spec("hub", hub=(dataset, config or None))
    path = Path(spec).expanduser()
    if path.suffix == ".tsv":
        return Spec("tsv", (path,))
    if path.suffix in (".jsonl", ".json"):
        if not path.is_file():
            raise NmtError(f"{path}: file not found")
        return Spec("jsonl", (path,))
    src_path, tgt_path = Path(f"{path}.{src_lang}"), Path(f"{path}.{tgt_lang}")
    if not src_path.is_file() and not tgt_path.is_file() and not path.parent.is_dir():
        raise NmtError(f"{spec}: no such folder; a file spec is x.tsv, x.jsonl, a prefix or hub:NAME")
    return Spec("prefix", (src_path, tgt_path))


def read_dataset(spec: str, src_lang: str, tgt_lang: str, split: str = "train"):  # noqa: ANN201 - datasets.Dataset
    """One file spec as a `datasets` table with ``src`` and ``tgt`` columns (Arrow: memory-mapped and cached,
    so a corpus bigger than memory is never loaded into Python objects); ``info.description`` names it."""
    parsed = parse_spec(spec, src_lang, tgt_lang)
    ds = _datasets()
    if parsed.kind == "hub":
        origin = f"{spec}[{split}]"
        try:
            rows = ds.load_dataset(*parsed.hub, split=split)
        except Exception as err:  # network, missing dataset or split: all user-facing
            raise NmtError(f"{spec}: could not load split '{split}' ({type(err).__name__}: {err})") from None
        return _named(_from_translation_rows(rows, src_lang, tgt_lang, origin), origin)
    if parsed.kind == "tsv":
        return _named(_read_tsv(parsed.paths[0]), str(parsed.paths[0]))
    if parsed.kind == "jsonl":
        path = parsed.paths[0]
        try:
            rows = ds.load_dataset("json", data_files=str(path), split="train")
        except ds.exceptions.DatasetGenerationError:
            raise NmtError(f"{path}: not valid JSON lines; each line needs "
                           f'{{"translation": {{"{src_lang}": ..., "{tgt_lang}": ...}}}}') from None
        return _named(_from_translation_rows(rows, src_lang, tgt_lang, str(path)), str(path))
    return _pair_table(*parsed.paths)


def _pair_table(src_path: Path, tgt_path: Path):  # noqa: ANN202
    src, tgt = text_dataset(src_path), text_dataset(tgt_path)
    if len(src) != len(tgt):
        raise NmtError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}; "
                       "parallel files need one line per sentence on both sides")
    table = _datasets().concatenate_datasets([src.rename_column("text", "src"), tgt.rename_column("text", "tgt")],
                                             axis=1)
    return _named(table, f"{src_path} + {tgt_path}")


def read_pair(src_path: Path, tgt_path: Path) -> Parallel:
    """Two line-aligned plain-text files."""
    return _as_parallel(_pair_table(src_path, tgt_path))


def stream_pairs(spec: str, src_lang: str, tgt_lang: str) -> Callable[[], Iterator[tuple[str, str]]]:
    """A file spec as a stream: each call of the result reads (source, target) pairs from the start, through
    `datasets` streaming, without copying or caching the corpus. Errors name the file and line as they are met."""
    parsed = parse_spec(spec, src_lang, tgt_lang)
    ds = _datasets()
    if parsed.kind in ("hub", "jsonl"):
        origin = spec if parsed.kind == "hub" else str(parsed.paths[0])

        def rows() -> Iterator[tuple[str, str]]:
            source = (ds.load_dataset(*parsed.hub, split="train", streaming=True) if parsed.kind == "hub" else
                      ds.load_dataset("json", data_files=origin, split="train", streaming=True))
            for number, row in enumerate(source):
                yield _translation_pair(row.get("translation"), src_lang, tgt_lang, origin, number)

        return rows
    for path in parsed.paths:
        text_dataset(path, streaming=True)  # missing or empty: fail now, not at the first epoch
    if parsed.kind == "tsv":
        path = parsed.paths[0]

        def tsv() -> Iterator[tuple[str, str]]:
            for number, line in enumerate(_stream_lines(path), 1):
                a, b = split_tab(line)
                if b is None:
                    raise NmtError(f"{path}: line {number}: no tab; each line needs source<TAB>target")
                yield a, b

        return tsv
    src_path, tgt_path = parsed.paths

    def prefix() -> Iterator[tuple[str, str]]:
        count = 0
        for a, b in itertools.zip_longest(_stream_lines(src_path), _stream_lines(tgt_path)):
            if a is None or b is None:
                raise NmtError(f"{src_path} and {tgt_path} differ in length after line {count}; parallel files "
                               "need one line per sentence on both sides")
            count += 1
            yield a, b

    return prefix


def _stream_lines(path: Path) -> Iterator[str]:
    try:
        for batch in text_dataset(path, streaming=True).iter(batch_size=10_000):
            yield from batch["text"]
    except UnicodeDecodeError:
        raise not_utf8(path) from None


def _named(table, origin: str):  # noqa: ANN001, ANN202
    table.info.description = origin
    return table


def split_tab(line: str) -> tuple[str, str | None]:
    """A TSV line -> (first column, second column or None without a tab); extra columns are ignored."""
    a, tab, b = line.partition("\t")
    return a, (b.split("\t", 1)[0] if tab else None)


def _split_tabs(batch: dict) -> dict:
    src, tgt = zip(*map(split_tab, batch["text"])) if batch["text"] else ((), ())
    return {"src": list(src), "tgt": list(tgt)}


def _read_tsv(path: Path):  # noqa: ANN202
    table = text_dataset(path).map(_split_tabs, batched=True, batch_size=10_000, remove_columns=["text"])
    column = table.data.column("tgt")
    if column.null_count:
        import pyarrow.compute as pc

        line = pc.index(pc.is_null(column), True).as_py() + 1
        raise NmtError(f"{path}: line {line}: no tab; each line needs source<TAB>target")
    return table


def read_tsv(path: Path, swap: bool = False) -> Parallel:
    """Two tab-separated columns: source<TAB>target (``swap``: target<TAB>source); extra columns are ignored."""
    table = _read_tsv(path)
    src, tgt = list(table["src"]), list(table["tgt"])
    return Parallel(tgt, src, str(path)) if swap else Parallel(src, tgt, str(path))


def _translation_pair(pair: object, src_lang: str, tgt_lang: str, origin: str, index: int) -> tuple[str, str]:
    """(source, target) of one row's ``translation`` field (row ``index`` from 0); an error names the row."""
    if not isinstance(pair, dict) or src_lang not in pair or tgt_lang not in pair:
        raise NmtError(f"{origin}: row {index + 1}: translation lacks '{src_lang}' or '{tgt_lang}'; "
                       f"found {json.dumps(pair, ensure_ascii=False)[:80]}")
    return pair[src_lang] or "", pair[tgt_lang] or ""


def _from_translation_rows(rows, src_lang: str, tgt_lang: str, origin: str):  # noqa: ANN001, ANN202
    if "translation" not in rows.column_names:
        raise NmtError(f"{origin}: no 'translation' field; rows need "
                       f'{{"translation": {{"{src_lang}": ..., "{tgt_lang}": ...}}}}')

    def columns(batch: dict, indices: list[int]) -> dict:
        pairs = [_translation_pair(pair, src_lang, tgt_lang, origin, number)
                 for number, pair in zip(indices, batch["translation"])]
        return {"src": [a for a, _ in pairs], "tgt": [b for _, b in pairs]}

    return rows.map(columns, batched=True, with_indices=True, remove_columns=rows.column_names)


# ---------------------------------------------------------------- cleaning


def clean(text: str) -> str:
    """The one cleaning rule, for training and validation text alike: whitespace runs become one space, the
    ends are stripped. A pair with a side that is empty after cleaning is dropped."""
    return " ".join(text.split())


FINAL_MARKS = ".!?。！？…"


def casual_copies(pairs: Iterable[tuple[str, str]], share: float,
                  sides: Literal["src", "both"] = "src") -> Iterator[tuple[str, str]]:
    """Each pair, and for ``share`` of them (chosen by a hash of the source, so every reader of the corpus picks
    the same ones) a copy typed as people type: without the final punctuation mark, with a lowercase first
    letter, or both (a third each). The target keeps its text, except that ``sides="both"`` drops its final mark
    whenever the source's is dropped (German capitalises nouns: its first letter is never lowered)."""
    for src, tgt in pairs:
        yield src, tgt
        if not share or not src:
            continue
        # uniform in [0, 1): the same draw in every process and for raw or cleaned text (SentencePiece reads it raw)
        draw = zlib.crc32(clean(src).encode("utf-8")) / 2**32
        if draw >= share:
            continue
        how = int(draw / share * 3)  # 0: no final mark, 1: lowercase first letter, 2: both
        copy_src, copy_tgt = src, tgt
        if how != 1:
            copy_src = src.rstrip(FINAL_MARKS).rstrip()
            if sides == "both":
                copy_tgt = tgt.rstrip(FINAL_MARKS).rstrip() or tgt
        if how != 0:
            copy_src = copy_src[:1].lower() + copy_src[1:]
        if copy_src and (copy_src, copy_tgt) != (src, tgt):
            yield copy_src, copy_tgt


def clean_text(data: Parallel, drops: Counter) -> Parallel:
    """Clean every sentence, drop pairs with an empty side; counts go into ``drops``."""
    src, tgt = [], []
    for a, b in zip(data.src, data.tgt):
        a, b = clean(a), clean(b)
        if not a or not b:
            drops["empty side"] += 1
            continue
        src.append(a)
        tgt.append(b)
    return Parallel(src, tgt, data.origin)


# ---------------------------------------------------------------- batching


@dataclass
class Batch:
    src: Tensor  # (B, S) source ids ending with </s>, PAD-padded
    tgt_in: Tensor  # (B, T) <s> y1 .. yn (the model's start token first)
    tgt_out: Tensor  # (B, T) y1 .. yn </s>
    tgt_tokens: int  # real (non-pad) target tokens

    def to(self, device: torch.device) -> Batch:
        """On CUDA the copy goes from pinned memory without blocking: a plain copy would wait for the GPU."""
        def move(x: Tensor) -> Tensor:
            return x.pin_memory().to(device, non_blocking=True) if device.type == "cuda" else x.to(device)

        return Batch(move(self.src), move(self.tgt_in), move(self.tgt_out), self.tgt_tokens)


def padded(lengths: np.ndarray, values: np.ndarray, start: int | None = None, eos: bool = False,
           multiple: int = 1) -> Tensor:
    """The one padding routine. Rows given as lengths (B,) + concatenated values -> (B, W) int64, PAD-padded, W
    the longest row + 1 + eos rounded up to a ``multiple`` (fewer distinct shapes: a GPU's per-shape kernel
    choices), with the decoder's ``start`` token (<s>, or <pad> for Marian models) in front when given and </s>
    after each row (``eos``)."""
    bos = start is not None
    width = rounded(int(lengths.max(initial=0)) + bos + eos, multiple)
    out = np.full((len(lengths), width), PAD_ID, dtype=np.int64)  # (B, W)
    inside = np.arange(width - bos) < lengths[:, None]  # (B, W - bos) True at real tokens
    out[:, bos:][inside] = values
    if bos:
        out[:, 0] = start
    if eos:
        out[np.arange(len(lengths)), lengths] = EOS_ID
    return torch.from_numpy(out)


def flat(seqs: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray]:
    """Id lists -> (lengths (B,), concatenated values)."""
    lengths = np.fromiter(map(len, seqs), np.int64, len(seqs))
    return lengths, np.fromiter(itertools.chain.from_iterable(seqs), np.int64, int(lengths.sum()))


def rounded(width: W, multiple: int) -> W:
    """``width`` (an int, or an array of them) rounded up to a ``multiple`` (1: unchanged)."""
    return -(-width // multiple) * multiple


def make_batch(src: tuple[np.ndarray, np.ndarray], tgt: tuple[np.ndarray, np.ndarray], start: int = BOS_ID,
               multiple: int = 1) -> Batch:
    """A training Batch from (lengths, values) of source ids (ending with </s>) and target ids (without
    <s>/</s>); the decoder input begins with ``start`` (the model's ``start_id``); widths rounded up to a
    ``multiple``."""
    tgt_lens, tgt_values = tgt
    return Batch(padded(*src, multiple=multiple), padded(tgt_lens, tgt_values, start, multiple=multiple),
                 padded(tgt_lens, tgt_values, eos=True, multiple=multiple), int(tgt_lens.sum()) + len(tgt_lens))


def pad(seqs: Sequence[Sequence[int]], multiple: int = 1) -> Tensor:
    """Right-pad id lists with PAD_ID -> (B, max_len rounded up to a ``multiple``)."""
    return padded(*flat(seqs), multiple=multiple)


def collate(src_ids: Sequence[Sequence[int]], tgt_ids: Sequence[Sequence[int]], start: int = BOS_ID,
            multiple: int = 1) -> Batch:
    return make_batch(flat(src_ids), flat(tgt_ids), start, multiple)


def token_batches(
    src_lens: Sequence[int], tgt_lens: Sequence[int], batch_tokens: int, seed: int | None = None, multiple: int = 1,
    max_sentences: int = 0,
) -> list[np.ndarray]:
    """Group indices into batches of at most ``batch_tokens`` (sentences x longest side, padding counted: the
    longest side rounded up to a ``multiple``, as :func:`padded` pads it) and ``max_sentences`` (0: no limit).

    Pairs are sorted by length so batches hold similar lengths (little padding); with a ``seed`` the ties are
    broken randomly and the batch order is shuffled, so each epoch differs but is reproducible.
    """
    src, tgt = np.asarray(src_lens, dtype=np.int64), np.asarray(tgt_lens, dtype=np.int64)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(src)) if seed is not None else np.arange(len(src))
    order = order[np.lexsort((src[order], tgt[order]))]  # by target, then source length; stable: shuffled ties
    starts, count, longest = [0], 0, 0
    sizes = np.maximum(src, tgt + 1)  # a pair's longest side (the target gets <s> or </s>)
    for size in rounded(sizes, multiple)[order].tolist():  # as padded pads them
        longest = max(longest, size)
        if count and ((count + 1) * longest > batch_tokens or count == max_sentences):
            starts.append(starts[-1] + count)
            count, longest = 0, size
        count += 1
    batches = np.split(order, starts[1:]) if len(order) else []
    if seed is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches
