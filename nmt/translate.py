"""Translation: a run directory -> a model and tokenizer -> batched greedy or beam search -> text."""

from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch

from nmt.config import Config, DecodeConfig
from nmt.constants import DEFAULT_RUNS_ROOT, EOS_ID
from nmt.data import pad
from nmt.errors import NmtError
from nmt.model import Transformer
from nmt.run import load_run, pick_device
from nmt.search import Hypothesis, beam_search, greedy_search
from nmt.tokenizer import Tokenizer


def source_ids(tok: Tokenizer, lines: list[str], max_positions: int) -> list[list[int]]:
    """Source ids (ending with </s>) per line, [] for an empty line. Sources longer than ``max_positions`` are
    truncated, with a warning on stderr naming the line."""
    out: list[list[int]] = [[] for _ in lines]
    todo = [i for i, line in enumerate(lines) if line.strip()]
    for i, seq in zip(todo, tok.encode_src([lines[i] for i in todo])):
        if len(seq) > max_positions:
            print(f"warning: input line {i + 1} has {len(seq)} subword tokens; truncated to model.max_positions="
                  f"{max_positions}", file=sys.stderr)
            seq = seq[: max_positions - 1] + [EOS_ID]
        out[i] = seq
    return out


def search_lines(
    model: Transformer, tok: Tokenizer, lines: list[str], *, beam_size: int, alpha: float, max_len_a: float,
    max_len_b: int, batch_size: int, device: torch.device, n_best: int = 1, min_len: int = 1,
) -> tuple[list[list[int]], list[list[Hypothesis]]]:
    """(source ids, n-best hypotheses) per line, in input order; an empty line gets no ids and no hypotheses.
    Sources longer than the model's positions are truncated, with a warning on stderr. ``min_len`` 1: a
    non-empty line never gets an empty translation (</s> is banned at the first step, as fairseq and
    CTranslate2 do)."""
    was_training = model.training
    model.eval()
    limit = model.cfg.max_positions
    src_ids = source_ids(tok, lines, limit)
    todo = [i for i, ids in enumerate(src_ids) if ids]
    hyps: list[list[Hypothesis]] = [[] for _ in lines]
    order = sorted(todo, key=lambda i: len(src_ids[i]))  # similar lengths batch together
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        src = pad([src_ids[i] for i in chunk]).to(device)
        if beam_size == 1:
            found = [[h] for h in greedy_search(model, src, max_len_a, max_len_b, min_len, limit)]
        else:
            found = beam_search(model, src, beam_size, alpha, max_len_a, max_len_b, min_len, n_best, limit)
        for i, nbest in zip(chunk, found):
            hyps[i] = nbest
    model.train(was_training)
    return src_ids, hyps


class Translation(NamedTuple):
    """One hypothesis: its text, the search's score (beam: log-probability / GNMT length penalty; greedy: the
    log-probability) and the log-probability (the sum over output tokens, </s> included)."""

    text: str
    score: float
    log_prob: float


def translate_lines(model: Transformer, tok: Tokenizer, lines: list[str], **search: Any) -> list[list[Translation]]:
    """n-best lists, in input order; an empty line gives one empty translation scored 0. Options as
    :func:`search_lines`."""
    _, hyps = search_lines(model, tok, lines, **search)
    texts = [tok.decode_tgt([h.tokens for h in nbest]) for nbest in hyps]
    return [[Translation(text, h.score, h.log_prob) for text, h in zip(words, nbest)] if nbest
            else [Translation("", 0.0, 0.0)] for words, nbest in zip(texts, hyps)]


def moses_nbest(translations: list[list[Translation]], first: int = 0) -> list[str]:
    """n-best lines as Moses and Marian write them: ``i ||| text ||| F0= log-probability ||| score``, ``i`` the
    0-based input line (counted from ``first``), best first within a line."""
    return [f"{first + i} ||| {t.text} ||| F0= {t.log_prob:.4f} ||| {t.score:.4f}"
            for i, nbest in enumerate(translations) for t in nbest]


def decode_settings(d: DecodeConfig, beam_size: int | None = None, **decode: float) -> DecodeConfig:
    """Decode settings with ``beam_size`` and ``decode`` (DecodeConfig fields) overriding ``d``, validated."""
    if beam_size is not None and beam_size < 1:
        raise NmtError(f"--beam {beam_size}: the beam size must be at least 1 (1 is greedy search)")
    d = dataclasses.replace(d, **decode, **({} if beam_size is None else {"beam_size": beam_size}))
    d.validate()
    return d


def search_options(d: DecodeConfig, device: torch.device, beam_size: int | None = None) -> dict[str, Any]:
    """Keyword arguments for :func:`search_lines` from decode settings (``beam_size`` overrides), validated."""
    d = decode_settings(d, beam_size)
    return {"beam_size": d.beam_size, "alpha": d.length_penalty, "max_len_a": d.max_len_a,
            "max_len_b": d.max_len_b, "batch_size": d.batch_size, "device": device}


@dataclass
class Translator:
    """A trained run, ready to translate. ``Translator.load()`` takes the newest run."""

    cfg: Config
    model: Transformer
    tok: Tokenizer
    device: torch.device
    run_dir: Path
    checkpoint: str = "best"

    @classmethod
    def load(cls, run: str | Path | None = None, checkpoint: str = "best", device: str = "auto",
             runs_root: str = DEFAULT_RUNS_ROOT) -> Translator:
        """The run's ``checkpoint`` on ``device`` (``auto``: CUDA when present, else the CPU)."""
        loaded = load_run(run, checkpoint, device, runs_root)
        assert loaded.model is not None
        return cls(loaded.config, loaded.model, loaded.tokenizer, pick_device(device), loaded.dir, checkpoint)

    def options(self, beam_size: int | None = None, **decode: float) -> dict[str, Any]:
        """Search options: the run's decode settings, ``decode`` overriding DecodeConfig fields (length_penalty,
        max_len_a, max_len_b, batch_size) and ``beam_size`` the beam; validated."""
        return search_options(decode_settings(self.cfg.decode, beam_size, **decode), self.device)

    def translate(self, lines: list[str], beam_size: int | None = None, n_best: int = 1,
                  **decode: float) -> list[list[Translation]]:
        """Translate sentences; returns per line the n-best list of (text, score, log_prob). ``decode``
        overrides DecodeConfig fields (length_penalty, max_len_a, max_len_b, batch_size)."""
        options = self.options(beam_size, **decode)
        if n_best > options["beam_size"]:
            raise NmtError(f"--n-best {n_best} exceeds the beam size {options['beam_size']}; raise --beam")
        return translate_lines(self.model, self.tok, lines, n_best=n_best, **options)

    def __call__(self, lines: list[str], beam_size: int | None = None) -> list[str]:
        """The best translation of each line."""
        return [nbest[0][0] for nbest in self.translate(lines, beam_size)]
