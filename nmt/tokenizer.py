"""SentencePiece subwords: trained on the training split (or existing models reused), stored in the run directory.

Ids are SentencePiece's own, or (Marian / OPUS-MT models) come from a piece -> id table that both sides share.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Iterator, Sequence
from functools import cached_property
from pathlib import Path

import sentencepiece as spm

from nmt.config import TokenizerConfig
from nmt.constants import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPM_JOINT, SPM_SRC, SPM_TGT, UNK, UNK_ID, VOCAB_FILE
from nmt.errors import NmtError
from nmt.verbatim import PLACEHOLDERS

SPECIAL = {PAD: PAD_ID, UNK: UNK_ID, BOS: BOS_ID, EOS: EOS_ID}


class Tokenizer:
    """Source and target SentencePiece models (the same object when the vocabulary is joint), and optionally a
    piece -> id ``table`` shared by both sides (then ids are the table's, as Marian's vocab.json gives them)."""

    def __init__(self, src: spm.SentencePieceProcessor, tgt: spm.SentencePieceProcessor,
                 table: dict[str, int] | None = None, where: str = "SentencePiece model") -> None:
        self.src, self.tgt, self.table = src, tgt, table
        if table is None:
            for sp in (src, tgt):
                ids = (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id())
                if ids != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
                    raise NmtError(f"{where}: special ids (pad, unk, bos, eos) are {ids}; nmt needs "
                                   f"{PAD_ID, UNK_ID, BOS_ID, EOS_ID}: train it with `nmt tokenizer train`, or with "
                                   f"pad_id={PAD_ID} unk_id={UNK_ID} bos_id={BOS_ID} eos_id={EOS_ID}")
            self.pieces: list[str] | None = None
            return
        wrong = [f"{piece}={table.get(piece)}" for piece, i in SPECIAL.items()
                 if table.get(piece, i if piece == BOS else None) != i]
        if wrong or sorted(table.values()) != list(range(len(table))):
            raise NmtError(f"{where}: the id table must give {PAD}={PAD_ID} {UNK}={UNK_ID} {EOS}={EOS_ID} "
                           f"({BOS}={BOS_ID} if present) and ids 0..N-1 once each; got {' '.join(wrong) or 'gaps'}")
        self.pieces = sorted(table, key=table.__getitem__)  # id -> piece

    def __getstate__(self) -> dict:  # picklable (datasets.map workers): the model protos, not the processors
        tgt = None if self.joint else self.tgt.serialized_model_proto()
        return {"src": self.src.serialized_model_proto(), "tgt": tgt, "table": self.table}

    def __setstate__(self, state: dict) -> None:
        src = spm.SentencePieceProcessor(model_proto=state["src"])
        tgt = src if state["tgt"] is None else spm.SentencePieceProcessor(model_proto=state["tgt"])
        self.__init__(src, tgt, state["table"])  # type: ignore[misc]

    @property
    def joint(self) -> bool:
        return self.src is self.tgt

    @property
    def src_vocab_size(self) -> int:
        return len(self.pieces) if self.pieces is not None else self.src.get_piece_size()

    @property
    def tgt_vocab_size(self) -> int:
        return len(self.pieces) if self.pieces is not None else self.tgt.get_piece_size()

    def _ids(self, sp: spm.SentencePieceProcessor, lines: Sequence[str]) -> list[list[int]]:
        if self.table is None:
            return sp.encode(list(lines))
        return [[self.table.get(p, UNK_ID) for p in pieces] for pieces in sp.encode(list(lines), out_type=str)]

    def encode_src(self, lines: Sequence[str]) -> list[list[int]]:
        """Source ids, ending with </s> (the encoder sees where the sentence ends)."""
        return [ids + [EOS_ID] for ids in self._ids(self.src, lines)]

    def encode_tgt(self, lines: Sequence[str]) -> list[list[int]]:
        """Target ids without <s>/</s> (training adds them)."""
        return self._ids(self.tgt, lines)

    def decode_tgt(self, ids: Sequence[Sequence[int]]) -> list[str]:
        return self._decode(self.tgt, ids)

    def decode_src(self, ids: Sequence[Sequence[int]]) -> list[str]:
        return self._decode(self.src, ids)

    def _decode(self, sp: spm.SentencePieceProcessor, ids: Sequence[Sequence[int]]) -> list[str]:
        if self.pieces is None:
            return [text.strip() for text in sp.decode([list(x) for x in ids])]
        unk = sp.unk_id()
        pieces = [[self.pieces[i] for i in x if self.pieces[i] not in (PAD, BOS, EOS)] for x in ids]
        # a piece this model does not know (a shared table's piece from the other side's model: a copied name)
        # is printed as it is by SentencePiece, word-boundary mark and all: turn the mark into the space it means
        return [text.strip() for text in sp.decode([[p if sp.piece_to_id(p) != unk else p.replace("▁", " ")
                                                     for p in x] for x in pieces])]

    def piece_id(self, piece: str, side: str = "tgt") -> int:
        """The id of one piece (<unk>'s for an unknown one)."""
        if self.table is not None:
            return self.table.get(piece, UNK_ID)
        return (self.src if side == "src" else self.tgt).piece_to_id(piece)

    def src_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.pieces[i] if self.pieces is not None else self.src.id_to_piece(i) for i in ids]

    def tgt_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.pieces[i] if self.pieces is not None else self.tgt.id_to_piece(i) for i in ids]

    def src_vocab(self) -> list[str]:
        """Every source piece, by id."""
        return self.src_pieces(range(self.src_vocab_size))

    def tgt_vocab(self) -> list[str]:
        """Every target piece, by id."""
        return self.tgt_pieces(range(self.tgt_vocab_size))

    @cached_property
    def continues_word(self) -> list[bool]:
        """Per target id: whether the piece continues the word before it (no "▁", starts with a letter or digit);
        computed once, for the whole-word rule of glossary terms."""
        return [not p.startswith("▁") and p[:1].isalnum() for p in self.tgt_vocab()]

    @cached_property
    def placeholders(self) -> list[int] | None:
        """Target ids of the verbatim placeholders (nmt/verbatim.py), when both sides have each as a piece of its
        own (a run trained with tokenizer.placeholders); else None: spans then reach the model as typed."""
        ids = [self.piece_id(p, "tgt") for p in PLACEHOLDERS]
        if UNK_ID in ids or UNK_ID in (self.piece_id(p, "src") for p in PLACEHOLDERS):
            return None
        return ids

    def knows(self, word: str, side: str = "src") -> bool:
        """Whether the ``side`` vocabulary holds ``word`` as a word of its own ("▁word")."""
        return self.piece_id("\u2581" + word, side) != UNK_ID

    @cached_property
    def digit_pieces(self) -> list[bool]:
        """Per target id: whether the piece writes a digit (placeholders aside)."""
        return [any(c.isdigit() for c in p) and p not in PLACEHOLDERS for p in self.tgt_vocab()]

    def save(self, run_dir: Path) -> None:
        """Write the model file(s) (and id table) into ``run_dir`` atomically."""
        from nmt.files import atomic_write_bytes

        files = ({SPM_JOINT: self.src.serialized_model_proto()} if self.joint else
                 {SPM_SRC: self.src.serialized_model_proto(), SPM_TGT: self.tgt.serialized_model_proto()})
        if self.table is not None:
            files[VOCAB_FILE] = json.dumps(self.table, ensure_ascii=False, indent=0).encode("utf-8")
        for name, data in files.items():
            atomic_write_bytes(run_dir / name, data)

    @classmethod
    def load(cls, run_dir: Path, joint: bool = True) -> Tokenizer:
        """The run's model(s): ``spm.model`` when joint, else ``spm.src.model`` + ``spm.tgt.model``; and the id
        table ``vocab.json`` when there is one."""
        table = _load_table(run_dir / VOCAB_FILE) if (run_dir / VOCAB_FILE).is_file() else None
        where = str(run_dir / (VOCAB_FILE if table is not None else SPM_JOINT if joint else SPM_SRC))
        if joint:
            sp = load_sentencepiece(run_dir / SPM_JOINT)
            return cls(sp, sp, table, where)
        return cls(load_sentencepiece(run_dir / SPM_SRC), load_sentencepiece(run_dir / SPM_TGT), table, where)

    @classmethod
    def from_config(cls, cfg: TokenizerConfig) -> Tokenizer:
        """The existing models a config names (tokenizer.model, or src_model + tgt_model, and vocab)."""
        table = _load_table(Path(cfg.vocab), "tokenizer.vocab") if cfg.vocab else None
        if cfg.model:
            sp = load_sentencepiece(Path(cfg.model), "tokenizer.model")
            return cls(sp, sp, table, f"tokenizer.vocab: {cfg.vocab}" if table else f"tokenizer.model: {cfg.model}")
        src = load_sentencepiece(Path(str(cfg.src_model)), "tokenizer.src_model")
        tgt = load_sentencepiece(Path(str(cfg.tgt_model)), "tokenizer.tgt_model")
        return cls(src, tgt, table, f"tokenizer.vocab: {cfg.vocab}" if table else
                   f"tokenizer.src_model/tgt_model: {cfg.src_model}, {cfg.tgt_model}")

    @staticmethod
    def exists(run_dir: Path, joint: bool = True) -> bool:
        names = (SPM_JOINT,) if joint else (SPM_SRC, SPM_TGT)
        return all((run_dir / name).is_file() for name in names)


def load_sentencepiece(path: Path, key: str | None = None) -> spm.SentencePieceProcessor:
    where = f"{key}: {path}" if key else str(path)
    fix = "point it at a SentencePiece .model file" if key else "retrain the run with `nmt train`"
    if not path.is_file():
        raise NmtError(f"{where}: tokenizer model missing; {fix}")
    try:
        return spm.SentencePieceProcessor(model_proto=path.read_bytes())
    except Exception:  # sentencepiece raises RuntimeError/OSError variants on bad protos
        raise NmtError(f"{where}: not a valid SentencePiece model; {fix}") from None


def _load_table(path: Path, key: str | None = None) -> dict[str, int]:
    where = f"{key}: {path}" if key else str(path)
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NmtError(f"{where}: id table missing; give a JSON file mapping pieces to ids") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise NmtError(f"{where}: not a JSON piece -> id table ({err})") from None
    if not isinstance(table, dict) or not all(isinstance(v, int) for v in table.values()):
        raise NmtError(f"{where}: expected a JSON object mapping each piece to an integer id")
    return table


def train_tokenizer(cfg: TokenizerConfig, pairs: Iterable[tuple[str, str]], seed: int) -> Tokenizer:
    """Train SentencePiece (joint or one model per side) on (source, target) pairs; when there are more than
    ``cfg.sample_sentences`` sentences, SentencePiece trains on a seeded random sample of them (reservoir
    sampling as it reads, so the corpus is never held in memory). ``pairs`` is iterated once per model."""
    if cfg.joint:
        sp = _train(cfg, (text for pair in pairs for text in pair), seed, cfg.vocab_size)
        return Tokenizer(sp, sp)
    return Tokenizer(_train(cfg, (a for a, _ in pairs), seed, cfg.src_vocab_size or cfg.vocab_size),
                     _train(cfg, (b for _, b in pairs), seed, cfg.tgt_vocab_size or cfg.vocab_size))


def _train(cfg: TokenizerConfig, sentences: Iterator[str], seed: int, size: int) -> spm.SentencePieceProcessor:
    model = io.BytesIO()
    spm.set_random_generator_seed(seed)
    spm.SentencePieceTrainer.train(
        sentence_iterator=(text for text in sentences if text),
        model_writer=model,
        model_type=cfg.type,
        vocab_size=size,
        hard_vocab_limit=False,  # small corpora may not support the full size: use what they do
        character_coverage=cfg.character_coverage,
        pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
        pad_piece=PAD, unk_piece=UNK, bos_piece=BOS, eos_piece=EOS,
        input_sentence_size=cfg.sample_sentences,
        shuffle_input_sentence=True,
        num_threads=2,
        minloglevel=2,
        split_digits=cfg.split_digits,
        byte_fallback=cfg.byte_fallback,
        user_defined_symbols=PLACEHOLDERS if cfg.placeholders else [],
    )
    return spm.SentencePieceProcessor(model_proto=model.getvalue())


def show_pieces(tok: Tokenizer, lines: Sequence[str], side: str = "src", ids: bool = False) -> list[str]:
    """`nmt tokenizer encode`: each line as space-separated pieces (or ids), without </s>."""
    encoded = [x[:-1] for x in tok.encode_src(lines)] if side == "src" else tok.encode_tgt(lines)
    pieces = tok.src_pieces if side == "src" else tok.tgt_pieces
    return [" ".join(map(str, x)) if ids else " ".join(pieces(x)) for x in encoded]


def join_pieces(tok: Tokenizer, lines: Sequence[str], side: str = "tgt") -> list[str]:
    """`nmt tokenizer decode`: lines of space-separated ids (a line of integers only) or pieces -> text."""
    rows = []
    for line in lines:
        tokens = line.split()
        ids = all(t.isdigit() for t in tokens)
        rows.append([int(t) if ids else tok.piece_id(t, side) for t in tokens])
        if any(not 0 <= i < (tok.src_vocab_size if side == "src" else tok.tgt_vocab_size) for i in rows[-1]):
            raise NmtError(f"line {len(rows)}: id out of range for this vocabulary: {line.strip()[:60]}")
    return tok.decode_src(rows) if side == "src" else tok.decode_tgt(rows)
