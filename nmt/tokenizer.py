"""SentencePiece subwords: trained on the training split, stored in the run directory."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
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

    def __getstate__(self) -> dict:  # picklable (datasets.map workers): the model protos, not the processors
        tgt = None if self.joint else self.tgt.serialized_model_proto()
        return {"src": self.src.serialized_model_proto(), "tgt": tgt}

    def __setstate__(self, state: dict) -> None:
        self.src = spm.SentencePieceProcessor(model_proto=state["src"])
        self.tgt = self.src if state["tgt"] is None else spm.SentencePieceProcessor(model_proto=state["tgt"])

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
        from nmt.files import atomic_write_bytes

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


def train_tokenizer(cfg: TokenizerConfig, pairs: Iterable[tuple[str, str]], seed: int) -> Tokenizer:
    """Train SentencePiece (joint or one model per side) on (source, target) pairs; when there are more than
    ``cfg.sample_sentences`` sentences, SentencePiece trains on a seeded random sample of them (reservoir
    sampling as it reads, so the corpus is never held in memory). ``pairs`` is iterated once per model."""
    if cfg.joint:
        sp = _train(cfg, (text for pair in pairs for text in pair), seed)
        return Tokenizer(sp, sp)
    return Tokenizer(_train(cfg, (a for a, _ in pairs), seed), _train(cfg, (b for _, b in pairs), seed))


def _train(cfg: TokenizerConfig, sentences: Iterator[str], seed: int) -> spm.SentencePieceProcessor:
    model = io.BytesIO()
    spm.set_random_generator_seed(seed)
    spm.SentencePieceTrainer.train(
        sentence_iterator=(text for text in sentences if text),
        model_writer=model,
        model_type=cfg.type,
        vocab_size=cfg.vocab_size,
        hard_vocab_limit=False,  # small corpora may not support the full size: use what they do
        character_coverage=cfg.character_coverage,
        pad_id=PAD_ID, unk_id=UNK_ID, bos_id=BOS_ID, eos_id=EOS_ID,
        pad_piece=PAD, unk_piece=UNK, bos_piece=BOS, eos_piece=EOS,
        input_sentence_size=cfg.sample_sentences,
        shuffle_input_sentence=True,
        num_threads=2,
        minloglevel=2,
    )
    return spm.SentencePieceProcessor(model_proto=model.getvalue())
