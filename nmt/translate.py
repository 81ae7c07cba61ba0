"""Translation: a run directory -> a model and tokenizer -> batched search (greedy, beam, constrained beam) or
sampling -> text."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from nmt.attention import attention_kernels
from nmt.config import CUDA_PAD_MULTIPLE, Config, DecodeConfig
from nmt.constants import DEFAULT_RUNS_ROOT, EOS_ID
from nmt.constrained import constrained_beam_search, needed_length
from nmt.data import pad, token_batches
from nmt.glossary import terms_in
from nmt.model import Transformer
from nmt.run import load_run, pick_device
from nmt.search import Hypothesis, beam_search, greedy_search, output_limits, sample_search
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
    model: Transformer, tok: Tokenizer, lines: list[str], decode: DecodeConfig, device: torch.device, min_len: int = 1,
) -> tuple[list[list[int]], list[list[Hypothesis]]]:
    """(source ids, n-best hypotheses) per line, in input order, searched (or sampled) as ``decode`` says; an
    empty line gets no ids and no hypotheses. Sources longer than the model's positions are truncated, with a
    warning on stderr. Lines holding glossary terms get constrained beam search, batched among themselves; the
    others are batched exactly as without a glossary. ``min_len`` 1: a non-empty line never gets an empty
    translation (</s> is banned at the first step, as fairseq and CTranslate2 do)."""
    d = decode
    was_training = model.training
    model.eval()
    limit = model.cfg.max_positions
    src_ids = source_ids(tok, lines, limit)
    hyps: list[list[Hypothesis]] = [[] for _ in lines]
    sentences, tokens = d.batch_limits(device.type)
    multiple = CUDA_PAD_MULTIPLE if device.type == "cuda" else 1

    def batches(todo: list[int]) -> Iterator[tuple[list[int], Tensor]]:
        """Lines ``todo`` in batches of similar length: (their indices, padded source ids)."""
        lengths = [len(src_ids[i]) for i in todo]
        for batch in token_batches(lengths, [0] * len(todo), tokens or sys.maxsize, None, multiple, sentences):
            chunk = [todo[j] for j in batch]
            yield chunk, pad([src_ids[i] for i in chunk], multiple).to(device)

    with attention_kernels(device), torch.autocast(device.type, torch.bfloat16, enabled=d.precision == "bf16"):
        constraints = glossary_constraints(tok, lines, src_ids, d, limit)
        continues_word = torch.tensor(tok.continues_word, device=device) if constraints else None  # (V,)
        for chunk, src in batches(list(constraints)):
            found = constrained_beam_search(model, src, [constraints[i] for i in chunk], d.beam_size,
                                            d.length_penalty, d.max_len_a, d.max_len_b, min_len, d.n_best, limit,
                                            continues_word)
            for i, nbest in zip(chunk, found):
                hyps[i] = nbest
        sampler = d.sampler()
        generator = None if sampler is None else torch.Generator(device).manual_seed(d.seed)
        for chunk, src in batches([i for i, ids in enumerate(src_ids) if ids and i not in constraints]):
            if sampler is not None:
                found = sample_search(model, src, d.n_best, *sampler, d.temperature, d.max_len_a, d.max_len_b,
                                      min_len, limit, generator)
            elif d.beam_size == 1:
                found = [[h] for h in greedy_search(model, src, d.max_len_a, d.max_len_b, min_len, limit)]
            else:
                found = beam_search(model, src, d.beam_size, d.length_penalty, d.max_len_a, d.max_len_b, min_len,
                                    d.n_best, limit)
            for i, nbest in zip(chunk, found):
                hyps[i] = nbest
    model.train(was_training)
    return src_ids, hyps


def glossary_constraints(tok: Tokenizer, lines: list[str], src_ids: list[list[int]], decode: DecodeConfig,
                         max_positions: int) -> dict[int, list[list[int]]]:
    """Line index -> target-term ids, for the lines holding glossary terms. Terms that cannot fit the line's
    length limit are dropped with a one-line warning on stderr (the line is then translated without them)."""
    out: dict[int, list[list[int]]] = {}
    if not decode.glossary:
        return out
    for i, ids in enumerate(src_ids):
        terms = terms_in(lines[i], decode.glossary) if ids else []
        if not terms:
            continue
        pieces = tok.encode_tgt(terms)
        room = int(output_limits(torch.tensor([ids]), decode.max_len_a, decode.max_len_b, max_positions)[0])
        if needed_length(pieces) > room:
            print(f"warning: input line {i + 1}: the glossary's target terms ({', '.join(terms)}) need "
                  f"{needed_length(pieces)} tokens with </s>, past the length limit of {room}; translated "
                  "without them (raise decode.max_len_a / max_len_b)", file=sys.stderr)
            continue
        out[i] = pieces
    return out


class Translation(NamedTuple):
    """One hypothesis: its text, the search's score (beam: log-probability / GNMT length penalty; greedy: the
    log-probability) and the log-probability (the sum over output tokens, </s> included)."""

    text: str
    score: float
    log_prob: float


def hypotheses_text(tok: Tokenizer, hyps: list[list[Hypothesis]]) -> list[list[Translation]]:
    """:func:`search_lines`' n-best lists as text; an empty line gives one empty translation scored 0."""
    texts = [tok.decode_tgt([h.tokens for h in nbest]) for nbest in hyps]
    return [[Translation(text, h.score, h.log_prob) for text, h in zip(words, nbest)] if nbest
            else [Translation("", 0.0, 0.0)] for words, nbest in zip(texts, hyps)]


def translate_lines(model: Transformer, tok: Tokenizer, lines: list[str], decode: DecodeConfig,
                    device: torch.device) -> list[list[Translation]]:
    """n-best lists of text, in input order, searched as ``decode`` says."""
    return hypotheses_text(tok, search_lines(model, tok, lines, decode, device)[1])


def moses_nbest(translations: list[list[Translation]], first: int = 0) -> list[str]:
    """n-best lines as Moses and Marian write them: ``i ||| text ||| F0= log-probability ||| score``, ``i`` the
    0-based input line (counted from ``first``), best first within a line."""
    return [f"{first + i} ||| {t.text} ||| F0= {t.log_prob:.4f} ||| {t.score:.4f}"
            for i, nbest in enumerate(translations) for t in nbest]


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

    def settings(self, **changes: Any) -> DecodeConfig:  # noqa: ANN401
        """The run's decode settings with ``changes`` (DecodeConfig fields: beam_size, length_penalty, n_best,
        max_len_a, max_len_b, batch_size; None keeps the run's), validated."""
        return self.cfg.decode.override(changes)

    def translate(self, lines: list[str], beam_size: int | None = None, n_best: int | None = None,
                  **changes: Any) -> list[list[Translation]]:  # noqa: ANN401
        """Translate sentences; returns per line the n-best list of (text, score, log_prob). ``beam_size``,
        ``n_best`` and ``changes`` as :meth:`settings` (None: the run's)."""
        decode = self.settings(beam_size=beam_size, n_best=n_best, **changes)
        return translate_lines(self.model, self.tok, lines, decode, self.device)

    def __call__(self, lines: list[str], beam_size: int | None = None, **changes: Any) -> list[str]:  # noqa: ANN401
        """The best translation of each line."""
        return [nbest[0][0] for nbest in self.translate(lines, beam_size, **changes)]
