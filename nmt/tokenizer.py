"""SentencePiece subwords: trained on the training split, stored in the run directory."""

from __future__ import annotations

import io
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

import sentencepiece as spm

from nmt.config import TokenizerConfig
from nmt.constants import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPM_JOINT, SPM_SRC, SPM_TGT, UNK, UNK_ID
from nmt.errors import NmtError


class Tokenizer:
    """Source and target SentencePiece models (the same object when the vocabulary is joint)."""

    def __init__(self, src: spm.SentencePieceProcessor, tgt: spm.SentencePieceProcessor) -> None:
        self.src, self.tgt = src, tgt
        for sp in (src, tgt):
            ids = (sp.pad_id(), sp.unk_id(), sp.bos_id(), sp.eos_id())
            if ids != (PAD_ID, UNK_ID, BOS_ID, EOS_ID):
                raise NmtError(f"SentencePiece model has special ids {ids}; nmt needs {PAD_ID, UNK_ID, BOS_ID, EOS_ID}")

    @property
    def joint(self) -> bool:
        return self.src is self.tgt

    @property
    def src_vocab_size(self) -> int:
        return self.src.get_piece_size()

    @property
    def tgt_vocab_size(self) -> int:
        return self.tgt.get_piece_size()

    def encode_src(self, lines: Sequence[str]) -> list[list[int]]:
        """Source ids, ending with </s> (the encoder sees where the sentence ends)."""
        return [ids + [EOS_ID] for ids in self.src.encode(list(lines))]

    def encode_tgt(self, lines: Sequence[str]) -> list[list[int]]:
        """Target ids without <s>/</s> (training adds them)."""
        return self.tgt.encode(list(lines))

    def decode_tgt(self, ids: Sequence[Sequence[int]]) -> list[str]:
        return [text.strip() for text in self.tgt.decode([list(x) for x in ids])]

    def src_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.src.id_to_piece(i) for i in ids]

    def tgt_pieces(self, ids: Sequence[int]) -> list[str]:
        return [self.tgt.id_to_piece(i) for i in ids]

    def save(self, run_dir: Path) -> None:
        """Write the model file(s) into ``run_dir`` atomically."""
        from nmt.checkpoint import atomic_write_bytes

        if self.joint:
            atomic_write_bytes(run_dir / SPM_JOINT, self.src.serialized_model_proto())
        else:
            atomic_write_bytes(run_dir / SPM_SRC, self.src.serialized_model_proto())
            atomic_write_bytes(run_dir / SPM_TGT, self.tgt.serialized_model_proto())

    @classmethod
    def load(cls, run_dir: Path, joint: bool = True) -> Tokenizer:
        """The run's model(s): ``spm.model`` when joint, else ``spm.src.model`` + ``spm.tgt.model``."""
        if joint:
            sp = _load(run_dir / SPM_JOINT)
            return cls(sp, sp)
        return cls(_load(run_dir / SPM_SRC), _load(run_dir / SPM_TGT))

    @staticmethod
    def exists(run_dir: Path, joint: bool = True) -> bool:
        names = (SPM_JOINT,) if joint else (SPM_SRC, SPM_TGT)
        return all((run_dir / name).is_file() for name in names)


def _load(path: Path) -> spm.SentencePieceProcessor:
    if not path.is_file():
        raise NmtError(f"{path}: tokenizer model missing; retrain the run with `nmt train`")
    try:
        return spm.SentencePieceProcessor(model_proto=path.read_bytes())
    except Exception:  # sentencepiece raises RuntimeError/OSError variants on bad protos
        raise NmtError(f"{path}: not a valid SentencePiece model; retrain the run with `nmt train`") from None


def train_tokenizer(cfg: TokenizerConfig, src_lines: Sequence[str], tgt_lines: Sequence[str], seed: int) -> Tokenizer:
    """Train SentencePiece (joint or one model per side) on a seeded sample of the training text."""
    if cfg.joint:
        sp = _train(cfg, _sample(list(src_lines) + list(tgt_lines), cfg.sample_sentences, seed))
        return Tokenizer(sp, sp)
    src = _train(cfg, _sample(src_lines, cfg.sample_sentences, seed))
    tgt = _train(cfg, _sample(tgt_lines, cfg.sample_sentences, seed))
    return Tokenizer(src, tgt)


def _sample(lines: Sequence[str], limit: int, seed: int) -> list[str]:
    lines = [line for line in lines if line]
    if len(lines) <= limit:
        return lines
    return random.Random(seed).sample(lines, limit)


def _train(cfg: TokenizerConfig, sentences: Iterable[str]) -> spm.SentencePieceProcessor:
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=model,
        model_type=cfg.type,
        vocab_size=cfg.vocab_size,
        hard_vocab_limit=False,  # small corpora may not support the full size: use what they do
        character_coverage=cfg.character_coverage,
        pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
        pad_piece=PAD, unk_piece=UNK, bos_piece=BOS, eos_piece=EOS,
        input_sentence_size=0,  # nmt has already sampled
        num_threads=2,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=model.getvalue())
