"""Parallel data: file specs read through `datasets`, cleaning that counts what it drops, token-budget batches."""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor

from nmt.constants import BOS_ID, EOS_ID, PAD_ID
from nmt.errors import NmtError


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
    train: Parallel | None
    valid: Parallel | None
    tests: dict[str, Parallel] = field(default_factory=dict)


def _datasets():  # noqa: ANN202 - imported lazily: `datasets` takes a second to import
    import datasets

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity_error()
    return datasets


def read_lines(path: Path) -> list[str]:
    """Lines of a UTF-8 text file (through `datasets`); errors name the file and line."""
    if not path.is_file():
        raise NmtError(f"{path}: file not found")
    if path.stat().st_size == 0:
        raise NmtError(f"{path}: file is empty")
    ds = _datasets()
    try:
        lines = list(ds.load_dataset("text", data_files=str(path), split="train")["text"])
    except ds.exceptions.DatasetGenerationError as err:
        if isinstance(err.__cause__, UnicodeDecodeError) or isinstance(err.__context__, UnicodeDecodeError):
            raise NmtError(f"{path}: line {_first_bad_utf8_line(path)}: not UTF-8 text; convert the file "
                           "to UTF-8 (e.g. with iconv)") from None
        raise
    return lines


def _first_bad_utf8_line(path: Path) -> int:
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, 1):
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return 0


def read_parallel(spec: str, src_lang: str, tgt_lang: str, split: str = "train") -> Parallel:
    """Read one file spec: ``x.tsv``, ``x.jsonl``, a prefix (``x.<src>`` + ``x.<tgt>``) or ``hub:NAME[/CONFIG]``."""
    if spec.startswith("hub:"):
        return _read_hub(spec[4:], src_lang, tgt_lang, split)
    path = Path(spec).expanduser()
    if path.suffix == ".tsv":
        return read_tsv(path)
    if path.suffix in (".jsonl", ".json"):
        return _read_jsonl(path, src_lang, tgt_lang)
    src_path, tgt_path = Path(f"{path}.{src_lang}"), Path(f"{path}.{tgt_lang}")
    if not src_path.is_file() and not tgt_path.is_file() and not path.parent.is_dir():
        raise NmtError(f"{spec}: no such folder; a file spec is x.tsv, x.jsonl, a prefix or hub:NAME")
    return read_pair(src_path, tgt_path)


def read_pair(src_path: Path, tgt_path: Path) -> Parallel:
    """Two line-aligned plain-text files."""
    src, tgt = read_lines(src_path), read_lines(tgt_path)
    if len(src) != len(tgt):
        raise NmtError(f"{src_path} has {len(src)} lines but {tgt_path} has {len(tgt)}; "
                       "parallel files need one line per sentence on both sides")
    return Parallel(src, tgt, f"{src_path} + {tgt_path}")


def read_tsv(path: Path, swap: bool = False) -> Parallel:
    """Two tab-separated columns: source<TAB>target (``swap``: target<TAB>source); extra columns are ignored."""
    src, tgt = [], []
    for number, line in enumerate(read_lines(path), 1):
        cols = line.split("\t")
        if len(cols) < 2:
            raise NmtError(f"{path}: line {number}: no tab; each line needs source<TAB>target")
        a, b = (cols[1], cols[0]) if swap else (cols[0], cols[1])
        src.append(a)
        tgt.append(b)
    return Parallel(src, tgt, str(path))


def _read_jsonl(path: Path, src_lang: str, tgt_lang: str) -> Parallel:
    if not path.is_file():
        raise NmtError(f"{path}: file not found")
    ds = _datasets()
    try:
        rows = ds.load_dataset("json", data_files=str(path), split="train")
    except ds.exceptions.DatasetGenerationError:
        raise NmtError(f"{path}: not valid JSON lines; each line needs "
                       f'{{"translation": {{"{src_lang}": ..., "{tgt_lang}": ...}}}}') from None
    return _from_translation_rows(rows, src_lang, tgt_lang, str(path))


def _read_hub(name: str, src_lang: str, tgt_lang: str, split: str) -> Parallel:
    dataset, _, config = name.partition("/")
    ds = _datasets()
    try:
        rows = ds.load_dataset(dataset, config or None, split=split)
    except Exception as err:  # network, missing dataset or split: all user-facing
        raise NmtError(f"hub:{name}: could not load split '{split}' ({type(err).__name__}: {err})") from None
    return _from_translation_rows(rows, src_lang, tgt_lang, f"hub:{name}[{split}]")


def _from_translation_rows(rows, src_lang: str, tgt_lang: str, origin: str) -> Parallel:  # noqa: ANN001
    if "translation" not in rows.column_names:
        raise NmtError(f"{origin}: no 'translation' field; rows need "
                       f'{{"translation": {{"{src_lang}": ..., "{tgt_lang}": ...}}}}')
    src, tgt = [], []
    for number, pair in enumerate(rows["translation"], 1):
        if not isinstance(pair, dict) or src_lang not in pair or tgt_lang not in pair:
            raise NmtError(f"{origin}: row {number}: translation lacks '{src_lang}' or '{tgt_lang}'; "
                           f"found {json.dumps(pair, ensure_ascii=False)[:80]}")
        src.append(pair[src_lang] or "")
        tgt.append(pair[tgt_lang] or "")
    return Parallel(src, tgt, origin)


# ---------------------------------------------------------------- cleaning


def clean_text(data: Parallel, drops: Counter) -> Parallel:
    """Strip whitespace, drop pairs with an empty side; counts go into ``drops``."""
    src, tgt = [], []
    for a, b in zip(data.src, data.tgt):
        a, b = " ".join(a.split()), " ".join(b.split())
        if not a or not b:
            drops["empty side"] += 1
            continue
        src.append(a)
        tgt.append(b)
    return Parallel(src, tgt, data.origin)


def filter_lengths(
    src_ids: list[list[int]], tgt_ids: list[list[int]], max_tokens: int, max_ratio: float, drops: Counter
) -> list[int]:
    """Indices of pairs within ``max_tokens`` on both sides and a length ratio of at most ``max_ratio``."""
    keep = []
    for i, (s, t) in enumerate(zip(src_ids, tgt_ids)):
        ls, lt = len(s), len(t) + 1  # target gets <s>/</s>: one of them per shifted side
        if ls > max_tokens or lt > max_tokens:
            drops["too long"] += 1
        elif max(ls, lt) / max(min(ls, lt), 1) > max_ratio:
            drops["length ratio"] += 1
        else:
            keep.append(i)
    return keep


# ---------------------------------------------------------------- batching


@dataclass
class Batch:
    src: Tensor  # (B, S) source ids ending with </s>, PAD-padded
    tgt_in: Tensor  # (B, T) <s> y1 .. yn
    tgt_out: Tensor  # (B, T) y1 .. yn </s>
    tgt_tokens: int  # real (non-pad) target tokens

    def to(self, device: torch.device) -> Batch:
        return Batch(self.src.to(device), self.tgt_in.to(device), self.tgt_out.to(device), self.tgt_tokens)


def pad(seqs: Sequence[Sequence[int]]) -> Tensor:
    """Right-pad id lists with PAD_ID -> (B, max_len)."""
    out = torch.full((len(seqs), max((len(s) for s in seqs), default=0)), PAD_ID, dtype=torch.long)
    for i, s in enumerate(seqs):
        out[i, : len(s)] = torch.tensor(s, dtype=torch.long)
    return out


def collate(src_ids: Sequence[Sequence[int]], tgt_ids: Sequence[Sequence[int]]) -> Batch:
    tgt_in = pad([[BOS_ID, *t] for t in tgt_ids])
    tgt_out = pad([[*t, EOS_ID] for t in tgt_ids])
    return Batch(pad(src_ids), tgt_in, tgt_out, sum(len(t) + 1 for t in tgt_ids))


def token_batches(
    src_lens: Sequence[int], tgt_lens: Sequence[int], batch_tokens: int, seed: int | None = None
) -> list[list[int]]:
    """Group indices into batches of at most ``batch_tokens`` (sentences x longest side, padding counted).

    Pairs are sorted by length so batches hold similar lengths (little padding); with a ``seed`` the ties are
    broken randomly and the batch order is shuffled, so each epoch differs but is reproducible.
    """
    n = len(src_lens)
    rng = random.Random(seed)
    order = list(range(n))
    if seed is not None:
        rng.shuffle(order)
    order.sort(key=lambda i: (tgt_lens[i], src_lens[i]))  # stable: shuffled ties
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        size = max(src_lens[i], tgt_lens[i] + 1)
        if current and (len(current) + 1) * max(longest, size) > batch_tokens:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, size)
    if current:
        batches.append(current)
    if seed is not None:
        rng.shuffle(batches)
    return batches


def iterate_batches(
    src_ids: list[list[int]], tgt_ids: list[list[int]], batches: list[list[int]], start: int = 0
) -> Iterator[tuple[int, Batch]]:
    """(batch number, Batch) from ``start`` on."""
    for number in range(start, len(batches)):
        idx = batches[number]
        yield number, collate([src_ids[i] for i in idx], [tgt_ids[i] for i in idx])
