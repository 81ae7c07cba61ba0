"""Training pairs at any size: cleaned, tokenized and length-filtered into token ids, then served as
token-budget batches. Two stores with one interface (``batches``):

- ``ArrowPairs``: the ids in an Arrow table built by ``datasets.map`` (``num_proc`` workers; memory-mapped and
  cached on disk for file corpora), so only two length arrays live in memory;
- ``StreamPairs``: nothing is copied; each epoch reads the corpus as a stream, ``buffer_pairs`` at a time,
  and batches each buffer by length as it goes.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable, Iterable, Iterator

import numpy as np

from nmt.augment import Augment
from nmt.constants import BOS_ID
from nmt.data import Batch, clean, collate, make_batch, token_batches
from nmt.tokenizer import Tokenizer

DROP_REASONS = ("", "empty side", "too long", "length ratio")  # index = the drop code stored per pair
MULTIPROCESS_FROM = 50_000  # corpora with more pairs than this are encoded by several processes (num_proc: 0)


class PairEncoder:
    """Text pairs -> token ids: clean, tokenize and length-check one batch of pairs (the one length filter:
    training data and validation loss both go through it); picklable for ``datasets.map``. Not the model's
    encoder. With ``augment`` (training data: nmt/augment.py), pairs are changed, merged and copied, so a batch
    may come out longer or shorter than it went in."""

    def __init__(self, tok: Tokenizer, max_tokens: int, max_ratio: float, augment: Augment | None = None) -> None:
        self.tok, self.max_tokens, self.max_ratio = tok, max_tokens, max_ratio
        self.augment = augment or Augment()

    def __call__(self, batch: dict) -> dict:
        pairs = list(self.augment((clean(a), clean(b)) for a, b in zip(batch["src"], batch["tgt"])))
        src, tgt = [a for a, _ in pairs], [b for _, b in pairs]
        src_ids, tgt_ids = self.tok.encode_src(src), self.tok.encode_tgt(tgt)
        ls = np.fromiter(map(len, src_ids), np.int64, len(src_ids))  # (B,) ends with </s>
        lt = np.fromiter(map(len, tgt_ids), np.int64, len(tgt_ids)) + 1  # (B,) <s>/</s>: one per shifted side
        longest, shortest = np.maximum(ls, lt), np.maximum(np.minimum(ls, lt), 1)
        drop = np.zeros(len(src), np.int8)  # later rules win: empty > too long > ratio
        drop[longest > self.max_ratio * shortest] = 3
        drop[longest > self.max_tokens] = 2
        drop[np.fromiter((not a or not b for a, b in zip(src, tgt)), bool, len(src))] = 1
        return {"src_ids": src_ids, "tgt_ids": tgt_ids, "drop": drop}


def _count(drop: np.ndarray, drops: Counter) -> None:
    for code, n in enumerate(np.bincount(drop, minlength=len(DROP_REASONS))[1:], 1):
        if n:
            drops[DROP_REASONS[code]] += int(n)


def _lengths(table, column: str) -> np.ndarray:  # noqa: ANN001
    """Row lengths of a list column, chunk by chunk (only the offsets are read, never the ids)."""
    chunks = table.data.column(column).chunks
    return np.concatenate([c.value_lengths().to_numpy(zero_copy_only=False) for c in chunks]).astype(np.int32)


def _lists(column) -> tuple[np.ndarray, np.ndarray]:  # noqa: ANN001 - a pyarrow list<int32> column
    """(lengths (B,), all values (sum of lengths,)) of a batch's list column."""
    lists = column.combine_chunks() if hasattr(column, "combine_chunks") else column  # small: one batch
    return np.diff(lists.offsets.to_numpy()), lists.flatten().to_numpy()


def _share(batches: list, rank: int, world: int) -> list:
    """Every ``world``-th batch from ``rank`` on; the last ``len % world`` are left out so that every process
    gets as many."""
    return batches[rank : (len(batches) // world) * world : world]


class ArrowPairs:
    """Token ids of the kept training pairs in an Arrow table; batches fetch their rows on demand."""

    def __init__(self, table, start_id: int = BOS_ID) -> None:  # noqa: ANN001 - a datasets.Dataset with src_ids/tgt_ids/drop columns
        self.table, self.drops = table, Counter()  # pairs dropped, by reason
        self.start_id = start_id  # the decoder's first input token
        drop = table.data.column("drop").to_numpy()
        _count(drop, self.drops)
        self.rows = np.flatnonzero(drop == 0)  # (N,) table rows of the kept pairs
        self.src_lens = _lengths(table, "src_ids")[self.rows]  # (N,) with </s>
        self.tgt_lens = _lengths(table, "tgt_ids")[self.rows]  # (N,) without <s>/</s>

    @classmethod
    def build(cls, text, tok: Tokenizer, max_tokens: int, max_ratio: float,  # noqa: ANN001
              num_proc: int = 0, start_id: int = BOS_ID, augment: Augment | None = None) -> ArrowPairs:
        """From a ``datasets.Dataset`` with ``src``/``tgt`` text columns (num_proc 0: one process per core for
        corpora over MULTIPROCESS_FROM pairs), with casual-typing copies added (``casual``: their share).
        File-backed tables are encoded once and cached by `datasets`."""
        from datasets import Features, Sequence, Value

        if num_proc == 0:
            num_proc = min(os.cpu_count() or 1, 8) if len(text) > MULTIPROCESS_FROM else 1
        features = Features({"src_ids": Sequence(Value("int32")), "tgt_ids": Sequence(Value("int32")),
                             "drop": Value("int8")})
        encoder = PairEncoder(tok, max_tokens, max_ratio, augment)
        table = text.map(encoder, batched=True, batch_size=2_000, features=features, remove_columns=text.column_names,
                         num_proc=num_proc if num_proc > 1 else None)
        return cls(table, start_id)

    def __len__(self) -> int:
        return len(self.rows)

    def fetch(self, index: np.ndarray) -> tuple[list[list[int]], list[list[int]]]:
        """Source and target ids of kept pairs ``index``."""
        rows = self.table[self.rows[index].tolist()]
        return rows["src_ids"], rows["tgt_ids"]

    def batch(self, index: np.ndarray, multiple: int = 1) -> Batch:
        """The Batch of kept pairs ``index``, padded straight from the Arrow arrays (same as ``collate``)."""
        rows = self.table.with_format("arrow")[self.rows[index].tolist()]  # a pyarrow.Table
        return make_batch(_lists(rows.column("src_ids")), _lists(rows.column("tgt_ids")), self.start_id, multiple)

    def batches(self, batch_tokens: int, seed: int | None, start: int = 0, rank: int = 0, world: int = 1,
                multiple: int = 1) -> Iterator[tuple[int, Batch]]:
        """(number, Batch) of one epoch from batch ``start`` on: seeded token-budget batches over
        length-sorted pairs (``seed`` None: in length order), every ``world``-th one from ``rank`` on (every
        process gets as many), widths padded to a ``multiple``."""
        mine = _share(token_batches(self.src_lens, self.tgt_lens, batch_tokens, seed, multiple), rank, world)
        for number in range(start, len(mine)):
            yield number, self.batch(mine[number], multiple)

    def count_batches(self, batch_tokens: int, world: int = 1, multiple: int = 1) -> int | None:
        """Batches each process gets per epoch (the same for every seed: ties have equal lengths)."""
        return len(token_batches(self.src_lens, self.tgt_lens, batch_tokens, 0, multiple)) // world


class StreamPairs:
    """A corpus read as a stream each epoch: ``buffer_pairs`` pairs are encoded, filtered and sorted into
    batches at a time, so memory holds one buffer whatever the corpus size."""

    def __init__(self, open_pairs: Callable[[], Iterable[tuple[str, str]]], tok: Tokenizer, max_tokens: int,
                 max_ratio: float, buffer_pairs: int, start_id: int = BOS_ID, augment: Augment | None = None) -> None:
        self.open_pairs, self.buffer_pairs, self.start_id = open_pairs, buffer_pairs, start_id
        self.encoder = PairEncoder(tok, max_tokens, max_ratio, augment)
        self.drops: Counter = Counter()  # pairs dropped, by reason, in the epoch read last

    def count_batches(self, batch_tokens: int, world: int = 1, multiple: int = 1) -> int | None:
        """Unknown until an epoch has been read."""
        return None

    def _buffers(self) -> Iterator[tuple[list[str], list[str]]]:
        src: list[str] = []
        tgt: list[str] = []
        for a, b in self.open_pairs():
            src.append(a)
            tgt.append(b)
            if len(src) == self.buffer_pairs:
                yield src, tgt
                src, tgt = [], []
        if src:
            yield src, tgt

    def batches(self, batch_tokens: int, seed: int, start: int = 0, rank: int = 0, world: int = 1,
                multiple: int = 1) -> Iterator[tuple[int, Batch]]:
        """Like ``ArrowPairs.batches``; each buffer is batched with its own seed. Resuming at ``start`` reads
        (and re-encodes) the stream up to that batch."""
        number, self.drops = 0, Counter()
        for buffer, (src, tgt) in enumerate(self._buffers()):
            encoded = self.encoder({"src": src, "tgt": tgt})
            _count(encoded["drop"], self.drops)
            keep = np.flatnonzero(encoded["drop"] == 0)
            src_ids = [encoded["src_ids"][i] for i in keep]
            tgt_ids = [encoded["tgt_ids"][i] for i in keep]
            mine = _share(token_batches([len(x) for x in src_ids], [len(x) for x in tgt_ids], batch_tokens,
                                        seed * 1_000_003 + buffer, multiple), rank, world)
            if number + len(mine) <= start:  # already trained on before a resume
                number += len(mine)
                continue
            for idx in mine:
                if number >= start:
                    yield number, collate([src_ids[i] for i in idx], [tgt_ids[i] for i in idx], self.start_id,
                                          multiple)
                number += 1
