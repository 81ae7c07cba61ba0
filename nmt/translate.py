"""Translation: a run directory -> a model and tokenizer -> batched search (greedy, beam, constrained beam) or
sampling -> text."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import Tensor

from nmt.attention import attention_kernels
from nmt.config import CUDA_PAD_MULTIPLE, Config, DecodeConfig
from nmt.constants import DEFAULT_RUNS_ROOT
from nmt.constrained import constrained_beam_search, needed_length
from nmt.data import pad, token_batches
from nmt.glossary import terms_in
from nmt.model import Transformer
from nmt.realtext import Prepared, Translation, finish, prepare
from nmt.run import load_run, pick_device
from nmt.search import Hypothesis, beam_search, greedy_search, output_limits, sample_search
from nmt.tokenizer import Tokenizer
from nmt.verbatim import PLACEHOLDER


def source_ids(tok: Tokenizer, lines: list[str]) -> list[list[int]]:
    """Source ids (ending with </s>) per line, [] for an empty line."""
    out: list[list[int]] = [[] for _ in lines]
    todo = [i for i, line in enumerate(lines) if line.strip()]
    for i, seq in zip(todo, tok.encode_src([lines[i] for i in todo])):
        out[i] = seq
    return out


class Suppressed:
    """A search model whose ``banned`` output tokens are never chosen (logits at -inf): the verbatim mode keeps
    the model from writing digits, since every number of a masked source is a placeholder."""

    def __init__(self, model: Transformer, banned: Tensor) -> None:
        self.model, self.banned, self.start_id = model, banned, model.start_id

    def encode(self, src: Tensor):  # noqa: ANN201
        return self.model.encode(src)

    def init_cache(self, enc, max_len: int):  # noqa: ANN001, ANN201
        return self.model.init_cache(enc, max_len)

    def decode_step(self, tokens: Tensor, cache) -> Tensor:  # noqa: ANN001
        return self.model.decode_step(tokens, cache).masked_fill(self.banned, float("-inf"))  # (N, V)


def search_lines(
    model: Transformer, tok: Tokenizer, lines: list[str], decode: DecodeConfig, device: torch.device, min_len: int = 1,
) -> tuple[list[list[int]], list[list[Hypothesis]]]:
    """(source ids, n-best hypotheses) per line, in input order, searched (or sampled) as ``decode`` says; an
    empty line gets no ids and no hypotheses. Lines must fit the model's positions (:func:`prepare_lines` cuts
    them). Lines holding glossary terms get constrained beam search, batched among themselves; the others are
    batched exactly as without a glossary. With verbatim placeholders (``decode.verbatim`` and a tokenizer that
    has them) no digit is written, and a line whose search lost one of its placeholders is searched again with
    each as a constraint. ``min_len`` 1: a non-empty line never gets an empty translation (</s> is banned at the
    first step, as fairseq and CTranslate2 do)."""
    d = decode
    was_training = model.training
    model.eval()
    limit = model.cfg.max_positions
    src_ids = source_ids(tok, lines)
    marks = set(tok.placeholders or ()) if d.verbatim else set()
    search_model: Any = model
    if bans_digits(tok, d, lines):
        search_model = Suppressed(model, torch.tensor(tok.digit_pieces, device=device))
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
        def constrained(constraints: dict[int, list[list[int]]]) -> None:
            if not constraints:
                return
            continues_word = torch.tensor(tok.continues_word, device=device)  # (V,)
            for chunk, src in batches(list(constraints)):
                found = constrained_beam_search(search_model, src, [constraints[i] for i in chunk], d.beam_size,
                                                d.length_penalty, d.max_len_a, d.max_len_b, min_len, d.n_best,
                                                limit, continues_word)
                for i, nbest in zip(chunk, found):
                    hyps[i] = nbest

        def own_marks(i: int) -> list[list[int]]:
            return [[t] for t in dict.fromkeys(src_ids[i]) if t in marks]

        constraints = glossary_constraints(tok, lines, src_ids, d, limit)
        constrained({i: terms + own_marks(i) for i, terms in constraints.items()})
        sampler = d.sampler()
        generator = None if sampler is None else torch.Generator(device).manual_seed(d.seed)
        for chunk, src in batches([i for i, ids in enumerate(src_ids) if ids and i not in constraints]):
            if sampler is not None:
                found = sample_search(search_model, src, d.n_best, *sampler, d.temperature, d.max_len_a, d.max_len_b,
                                      min_len, limit, generator)
            elif d.beam_size == 1:
                found = [[h] for h in greedy_search(search_model, src, d.max_len_a, d.max_len_b, min_len, limit)]
            else:
                found = beam_search(search_model, src, d.beam_size, d.length_penalty, d.max_len_a, d.max_len_b, min_len,
                                    d.n_best, limit)
            for i, nbest in zip(chunk, found):
                hyps[i] = nbest
        if sampler is None:  # placeholders the search lost: searched again with each one as a constraint
            constrained({i: own_marks(i) for i, ids in enumerate(src_ids) if ids and i not in constraints
                         and {t[0] for t in own_marks(i)} - set(hyps[i][0].tokens)})
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


def hypotheses_text(tok: Tokenizer, hyps: list[list[Hypothesis]]) -> list[list[Translation]]:
    """:func:`search_lines`' n-best lists as text; an empty line gives one empty translation scored 0."""
    texts = [tok.decode_tgt([h.tokens for h in nbest]) for nbest in hyps]
    return [[Translation(text, h.score, h.log_prob) for text, h in zip(words, nbest)] if nbest
            else [Translation("", 0.0, 0.0)] for words, nbest in zip(texts, hyps)]


def prepare_lines(tok: Tokenizer, max_positions: int, lines: list[str], decode: DecodeConfig, lang: str) -> Prepared:
    """``lines`` as the model's inputs: sentences (``decode.split_sentences``), cut where past the model's
    positions, spans as placeholders (``decode.verbatim``, where the tokenizer has them)."""
    return prepare(lines, lang, decode.split_sentences, decode.verbatim and tok.placeholders is not None,
                   lambda texts: [len(ids) > max_positions for ids in tok.encode_src(texts)], tok.knows,
                   None if tok.joint else partial(tok.knows, side="tgt"))


def bans_digits(tok: Tokenizer, decode: DecodeConfig, inputs: list[str]) -> bool:
    """Whether the search may write no digit: verbatim placeholders are on and no input holds a digit outside
    them (a sentence with more spans than placeholders keeps the rest as typed, and may then copy them)."""
    return (decode.verbatim and tok.placeholders is not None
            and not any(c.isdigit() for line in inputs for c in PLACEHOLDER.sub("", line)))


class Searched(NamedTuple):
    """Lines searched: their model inputs (``prep``), and per input its source ids and n-best hypotheses."""

    prep: Prepared
    src_ids: list[list[int]]
    hyps: list[list[Hypothesis]]


def search_texts(model: Transformer, tok: Tokenizer, lines: list[str], decode: DecodeConfig, device: torch.device,
                 lang: str = "en") -> Searched:
    """Lines as model inputs (:func:`prepare_lines`; ``lang``: the source language, its sentence rules), searched."""
    prep = prepare_lines(tok, model.cfg.max_positions, lines, decode, lang)
    return Searched(prep, *search_lines(model, tok, prep.inputs, decode, device))


def translate_lines(model: Transformer, tok: Tokenizer, lines: list[str], decode: DecodeConfig,
                    device: torch.device, lang: str = "en") -> list[list[Translation]]:
    """n-best lists of text, in input order, searched as ``decode`` says."""
    found = search_texts(model, tok, lines, decode, device, lang)
    return finish(found.prep, hypotheses_text(tok, found.hyps))


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

    def search(self, lines: list[str], decode: DecodeConfig | None = None) -> Searched:
        """:func:`search_texts` with this run's model, source language and ``decode`` (None: the run's)."""
        return search_texts(self.model, self.tok, lines, decode or self.settings(), self.device,
                            self.cfg.data.src_lang)

    def translate(self, lines: list[str], beam_size: int | None = None, n_best: int | None = None,
                  **changes: Any) -> list[list[Translation]]:  # noqa: ANN401
        """Translate sentences; returns per line the n-best list of (text, score, log_prob). ``beam_size``,
        ``n_best`` and ``changes`` as :meth:`settings` (None: the run's)."""
        decode = self.settings(beam_size=beam_size, n_best=n_best, **changes)
        return finish((found := self.search(lines, decode)).prep, hypotheses_text(self.tok, found.hyps))

    def __call__(self, lines: list[str], beam_size: int | None = None, **changes: Any) -> list[str]:  # noqa: ANN401
        """The best translation of each line."""
        return [nbest[0][0] for nbest in self.translate(lines, beam_size, **changes)]
