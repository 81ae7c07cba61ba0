"""Explaining a translation: its attention weights, and word alignments read from them. Analysis sits above
translation: this module calls the translator, never the reverse.

The weights come from the model's readable attention path (``Transformer.record_attention``), switched on for
one teacher-forced pass over the source and the chosen output: the fast SDPA path returns no weights.
Layers and heads are numbered from 0, as Python indexes them; layer -1 is the last.
Cross-attention rows are the output tokens being predicted (``</s>`` last) and its columns the source tokens
(``</s>`` last); decoder masked self-attention is labelled on both axes by the decoder's inputs (``<s>`` first).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor

from nmt.constants import BOS, EOS
from nmt.data import pad, token_batches
from nmt.errors import NmtError
from nmt.model import Transformer
from nmt.realtext import finish
from nmt.translate import Searched, Translator, hypotheses_text

Kind = Literal["self", "masked", "cross"]
KIND_HELP = {"self": "encoder self-attention (source x source)",
             "masked": "decoder masked self-attention (target x target)",
             "cross": "cross-attention (target x source)"}
ALIGN_LAYER = -1  # alignments and pictures default to the last decoder layer, mean over its heads


@dataclass
class AttentionMaps:
    """All attention weights of one sentence pair: (layers, heads, rows, columns) per kind."""

    src_tokens: list[str]  # source pieces, </s> last
    tgt_tokens: list[str]  # output pieces, </s> last
    encoder: Tensor  # (L_enc, H, S, S)
    masked: Tensor  # (L_dec, H, T, T), zero above the diagonal
    cross: Tensor  # (L_dec, H, T, S)

    def of(self, kind: Kind) -> Tensor:
        return {"self": self.encoder, "masked": self.masked, "cross": self.cross}[kind]

    def labels(self, kind: Kind) -> tuple[list[str], list[str]]:
        """(row labels, column labels)."""
        if kind == "self":
            return self.src_tokens, self.src_tokens
        if kind == "masked":  # position i reads decoder input i (<s> y1 .. yn) and sees inputs 0..i
            inputs = [BOS, *self.tgt_tokens[:-1]]
            return inputs, inputs
        return self.tgt_tokens, self.src_tokens

    def matrix(self, kind: Kind, layer: int = -1, head: int | None = None) -> Tensor:
        """One (rows, columns) matrix: a layer's head, or the mean over its heads when ``head`` is None."""
        weights = self.of(kind)
        if not -weights.size(0) <= layer < weights.size(0):
            raise IndexError(f"layer {layer} out of range: the model has {weights.size(0)} layers")
        per_layer = weights[layer]  # (H, rows, cols)
        if head is None:
            return per_layer.mean(dim=0)
        if not 0 <= head < per_layer.size(0):
            raise IndexError(f"head {head} out of range: the model has {per_layer.size(0)} heads")
        return per_layer[head]


ALIGN_BATCH_TOKENS = 4096  # pairs x longest side per teacher-forced pass when many pairs are explained


@torch.no_grad()
def attention_weights_batch(model: Transformer, pairs: Sequence[tuple[list[int], list[int]]],
                            ) -> list[tuple[Tensor, Tensor, Tensor]]:
    """:func:`attention_weights` of many (source ids, output ids) pairs, padded into few passes. Padding cannot
    change a pair's weights: padded source columns are masked, padded target rows come after the real ones and
    the decoder is causal; each pair's weights are cut back to its own rows and columns."""
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    out: list[tuple[Tensor, Tensor, Tensor] | None] = [None] * len(pairs)
    for chunk in token_batches([len(src) for src, _ in pairs], [len(o) for _, o in pairs], ALIGN_BATCH_TOKENS):
        srcs = [pairs[i][0] for i in chunk]
        tgts = [[model.start_id, *pairs[i][1]] for i in chunk]  # predicts the output + </s>
        with model.record_attention() as weights:
            model(pad(srcs).to(device), pad(tgts).to(device))  # (B, S), (B, T)
            encoder, masked, cross = (w.cpu() for w in weights())  # (L, B, H, rows, columns)
        for b, (i, s, t) in enumerate(zip(chunk.tolist(), srcs, tgts)):
            n, m = len(s), len(t)
            out[i] = (encoder[:, b, :, :n, :n], masked[:, b, :, :m, :m], cross[:, b, :, :m, :n])
    model.train(was_training)
    return out  # type: ignore[return-value]


def attention_weights(model: Transformer, src_ids: list[int], out_ids: list[int]) -> tuple[Tensor, Tensor, Tensor]:
    """(encoder, masked, cross) weights for source ``src_ids`` (ending with </s>) and output ``out_ids``
    (without <s>/</s>), from one teacher-forced pass. Shapes: (L, H, S, S), (L, H, T, T), (L, H, T, S)."""
    return attention_weights_batch(model, [(src_ids, out_ids)])[0]


def token_alignment(cross: Tensor) -> list[tuple[int, int]]:
    """(source, target) position pairs: each output token to the source token it attends to most.
    ``cross``: (T, S) including </s> on both sides, which are left out."""
    best = cross[:-1, :-1].argmax(dim=1)  # (T-1,)
    return [(int(s), t) for t, s in enumerate(best.tolist())]


def word_ids(pieces: list[str]) -> list[int | None]:
    """Word index of each SentencePiece piece (a new word starts at '▁'); None for </s>."""
    out: list[int | None] = []
    word = -1
    for i, piece in enumerate(pieces):
        if piece == EOS:
            out.append(None)
            continue
        if piece.startswith("\u2581") or i == 0:
            word += 1
        out.append(max(word, 0))
    return out


def word_alignment(cross: Tensor, src_pieces: list[str], tgt_pieces: list[str]) -> list[tuple[int, int]]:
    """Pharaoh (source word, target word) pairs: subword pieces merged into words, each target word linked to the
    source word with the most attention (summed over its pieces, averaged over the target word's pieces)."""
    src_w, tgt_w = word_ids(src_pieces), word_ids(tgt_pieces)
    n_src = max((w for w in src_w if w is not None), default=-1) + 1
    n_tgt = max((w for w in tgt_w if w is not None), default=-1) + 1
    if not n_src or not n_tgt:
        return []
    src_words = torch.zeros(len(src_w), n_src)  # (S, source words): piece -> its word, </s> in none
    tgt_words = torch.zeros(len(tgt_w), n_tgt)  # (T, target words)
    for piece, word in enumerate(src_w):
        if word is not None:
            src_words[piece, word] = 1.0
    for piece, word in enumerate(tgt_w):
        if word is not None:
            tgt_words[piece, word] = 1.0
    scores = tgt_words.T @ cross[:len(tgt_w), :len(src_w)].float() @ src_words  # (target words, source words)
    best = (scores / tgt_words.sum(dim=0)[:, None].clamp(min=1)).argmax(dim=1)
    return [(int(s), t) for t, s in enumerate(best.tolist())]


def pharaoh(pairs: list[tuple[int, int]]) -> str:
    """'i-j' pairs (source-target, 0-based), sorted by target then source."""
    return " ".join(f"{s}-{t}" for s, t in sorted(pairs, key=lambda p: (p[1], p[0])))


def from_pharaoh(text: str) -> list[tuple[int, int]]:
    """:func:`pharaoh`'s pairs read back."""
    return [(int(s), int(t)) for s, t in (pair.split("-") for pair in text.split())]


@dataclass
class Explanation:
    """One line's translation with the attention weights of each of its model inputs (a sentence, or a part of
    a long one) and a word alignment over the line's words."""

    source: str
    translation: str
    maps: list[AttentionMaps]  # one per model input; [] for an empty line
    alignment: list[tuple[int, int]]  # (source word, target word), 0-based over the whole line

    @property
    def pharaoh(self) -> str:
        return pharaoh(self.alignment)


def check_layer_head(translator: Translator, kind: Kind, layer: int, head: int | None) -> None:
    """One-line errors for a layer or head the model does not have (``kind`` decides encoder or decoder)."""
    if kind not in KIND_HELP:
        raise NmtError(f"--attention-kind {kind!r}: choose self, masked or cross")
    m = translator.cfg.model
    n_layers = m.encoder_layers if kind == "self" else m.decoder_layers
    if not -n_layers <= layer < n_layers:
        raise NmtError(f"--layer {layer}: the model has {n_layers} {'encoder' if kind == 'self' else 'decoder'} "
                       f"layers (0..{n_layers - 1}; -1 is the last)")
    if head is not None and not 0 <= head < m.heads:
        raise NmtError(f"--head {head}: the model has {m.heads} heads (0..{m.heads - 1})")


def explain(translator: Translator, lines: list[str], layer: int = ALIGN_LAYER, head: int | None = None,
            ) -> list[Explanation]:
    """Best translation of each line (the run's decode settings) with all attention weights (encoder self, decoder
    masked self, cross) and a word alignment from the cross-attention of decoder ``layer`` (mean over heads unless
    ``head``)."""
    return explain_hypotheses(translator, translator.search(lines), layer, head)


def aligned_translations(translator: Translator, lines: list[str], wanted: list[bool],
                         ) -> list[tuple[str, list[tuple[int, int]] | None]]:
    """The best translation of each line, one search for all, with its word alignment where ``wanted``."""
    only = {i for i, w in enumerate(wanted) if w}
    return [(e.translation, e.alignment if i in only else None)
            for i, e in enumerate(explain_hypotheses(translator, translator.search(lines), only=only))]


def explain_hypotheses(translator: Translator, found: Searched, layer: int = ALIGN_LAYER, head: int | None = None,
                       only: set[int] | None = None) -> list[Explanation]:
    """:func:`explain` for lines already searched (``Translator.search``): the best of each n-best list. A line
    of several inputs gets each input's maps; its alignment is each input's, shifted by the words before it.
    ``only``: the lines to explain (the others get their translation, no maps, no alignment)."""
    check_layer_head(translator, "cross", layer, head)
    tok, prep = translator.tok, found.prep
    texts = finish(prep, hypotheses_text(tok, found.hyps))
    starts = [0]  # the first model input of each line
    for seg in prep.segs:
        starts.append(starts[-1] + len(seg.pieces()))
    wanted = [j for i in range(len(prep.segs)) if only is None or i in only
              for j in range(starts[i], starts[i + 1]) if found.hyps[j]]
    weights = dict(zip(wanted, attention_weights_batch(
        translator.model, [(found.src_ids[j], found.hyps[j][0].tokens) for j in wanted])))
    out = []
    for i, seg in enumerate(prep.segs):
        if only is not None and i not in only:
            out.append(Explanation(seg.text, texts[i][0].text, [], []))
            continue
        maps, alignment, src_at, tgt_at = [], [], 0, 0
        for j, piece in enumerate(seg.pieces(), start=starts[i]):
            ids, nbest = found.src_ids[j], found.hyps[j]
            words = piece.split()
            translated = prep.masks[j].restore(tok.decode_tgt([nbest[0].tokens])[0])[0] if nbest else piece
            if nbest:
                m = AttentionMaps(tok.src_pieces(ids), tok.tgt_pieces(nbest[0].tokens) + [EOS], *weights[j])
                maps.append(m)
                alignment += [(s + src_at, t + tgt_at) for s, t in
                              word_alignment(m.matrix("cross", layer, head), m.src_tokens, m.tgt_tokens)]
            else:  # copied as it is: word k to word k
                alignment += [(k + src_at, k + tgt_at) for k in range(len(words))]
            src_at, tgt_at = src_at + len(words), tgt_at + len(translated.split())
        out.append(Explanation(seg.text, texts[i][0].text, maps, alignment))
    return out
