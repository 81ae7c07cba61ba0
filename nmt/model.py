"""The encoder-decoder Transformer, with a narrow interface for search: ``encode`` and ``decode_step``."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

from nmt.attention import keeping_weights
from nmt.config import ModelConfig
from nmt.constants import MAX_PAD_MULTIPLE, PAD_ID
from nmt.layers import DecoderLayer, EncoderLayer, SinusoidalPositions


@dataclass
class Encoded:
    """Encoder output for a batch of source sentences."""

    memory: Tensor  # (B, S, D)
    src_mask: Tensor  # (B, 1, 1, S) bool, True at real (non-pad) tokens


@dataclass
class DecoderCache:
    """Everything a decoding step needs from earlier steps, one row per hypothesis.

    Self-attention K/V are preallocated (N, H, max_len, Dh) per layer and grow by one position a step.
    Cross-attention K/V (n, H, S, Dh) are computed once, from the encoder output, and kept once per sentence:
    with ``group`` g > 1 (beam search) the N = n * g rows are g consecutive rows per sentence.
    """

    self_kv: list[tuple[Tensor, Tensor]]
    cross_kv: list[tuple[Tensor, Tensor]]
    src_mask: Tensor  # (n, 1, 1, S)
    capacity: int  # positions the self-attention buffers hold
    length: int = 0  # positions decoded so far
    group: int = 1  # rows per sentence
    spare: list[Tensor] = field(default_factory=list)  # buffers the next reorder writes into, one per K and V

    @property
    def rows(self) -> int:
        return self.self_kv[0][0].size(0)

    def reorder(self, index: Tensor, group: int | None = None) -> None:
        """New row i = old row index[i]: follows beams, expands sentences to beams (``group``: new rows per
        sentence), drops finished ones. Each block of ``group`` new rows must come from one sentence."""
        new_group = group or self.group
        sentences = index[::new_group] // self.group  # (n',) the sentence of each block of new rows
        self.self_kv = self._pick_self(index)
        if sentences.numel() != self.src_mask.size(0) or bool((sentences != torch.arange(
                sentences.numel(), device=sentences.device)).any()):
            self.cross_kv = [(k.index_select(0, sentences), v.index_select(0, sentences)) for k, v in self.cross_kv]
            self.src_mask = self.src_mask.index_select(0, sentences)
        self.group = new_group

    def _pick_self(self, index: Tensor) -> list[tuple[Tensor, Tensor]]:
        """Self-attention K/V rows ``index``: only the ``length`` positions written so far are copied, into
        buffers kept from the previous reorder (ping-pong), so a beam step copies half of what a whole-buffer
        index_select would, and allocates only when the rows outgrow them."""
        old = [t for pair in self.self_kv for t in pair]
        if old[0].requires_grad:  # out= does not take part in autograd: copy whole buffers
            return [(k.index_select(0, index), v.index_select(0, index)) for k, v in self.self_kv]
        rows = index.numel()
        if len(self.spare) != len(old) or self.spare[0].size(0) < rows:
            self.spare = [t.new_empty(rows, *t.shape[1:]) for t in old]  # (N', H, capacity, Dh)
        new = [buf[:rows] for buf in self.spare]
        for src, dst in zip(old, new):
            torch.index_select(src[:, :, : self.length], 0, index, out=dst[:, :, : self.length])
        self.spare = [t if t._base is None else t._base for t in old]  # the old buffers take the next reorder
        return list(zip(new[0::2], new[1::2]))


class Transformer(nn.Module):
    """Vaswani et al. (2017): scaled embeddings + sinusoidal positions, N encoder and N decoder layers."""

    def __init__(self, cfg: ModelConfig, src_vocab: int, tgt_vocab: int) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.d_model
        self.scale = math.sqrt(d)
        self.src_embed = nn.Embedding(src_vocab, d, padding_idx=PAD_ID)
        self.tgt_embed = self.src_embed if cfg.tie_embeddings else nn.Embedding(tgt_vocab, d, padding_idx=PAD_ID)
        # room for the padding after a batch's longest sequence when widths are rounded up to a multiple
        self.positions = SinusoidalPositions(cfg.max_positions + MAX_PAD_MULTIPLE - 1, d, cfg.position_layout)
        self.dropout = nn.Dropout(cfg.dropout)
        self.encoder = nn.ModuleList(EncoderLayer(cfg) for _ in range(cfg.encoder_layers))
        self.decoder = nn.ModuleList(DecoderLayer(cfg) for _ in range(cfg.decoder_layers))
        # Pre-norm stacks end with a LayerNorm; post-norm layers already end normalised.
        self.encoder_norm = nn.LayerNorm(d) if cfg.norm == "pre" else nn.Identity()
        self.decoder_norm = nn.LayerNorm(d) if cfg.norm == "pre" else nn.Identity()
        self.output = nn.Linear(d, tgt_vocab, bias=cfg.output_bias)
        self._init_weights()
        if cfg.tie_embeddings or cfg.tie_output:
            self.output.weight = self.tgt_embed.weight

    def _init_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.xavier_uniform_(module.weight)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Embedding):
                nn.init.normal_(module.weight, std=self.cfg.d_model**-0.5)
                with torch.no_grad():
                    module.weight[PAD_ID].zero_()

    @property
    def start_id(self) -> int:
        """The token decoding starts from (model.decoder_start)."""
        return self.cfg.start_id

    def _embed(self, embedding: nn.Embedding, tokens: Tensor, offset: int = 0) -> Tensor:
        return self.dropout(self.positions(embedding(tokens) * self.scale, offset))  # (B, T, D)

    def encode(self, src: Tensor) -> Encoded:
        """src: (B, S) token ids, padded with PAD_ID -> encoder output and source mask."""
        src_mask = (src != PAD_ID)[:, None, None, :]  # (B, 1, 1, S)
        x = self._embed(self.src_embed, src)
        for layer in self.encoder:
            x = layer(x, src_mask)
        return Encoded(self.encoder_norm(x), src_mask)

    def decode(self, tgt_in: Tensor, enc: Encoded) -> Tensor:
        """Full teacher-forced pass. tgt_in: (B, T) starting with <s> -> hidden states (B, T, D)."""
        x = self._embed(self.tgt_embed, tgt_in)
        for layer in self.decoder:
            x = layer(x, layer.cross_attn.project_kv(enc.memory), enc.src_mask)
        return self.decoder_norm(x)

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """Logits (B, T, V) for every target position."""
        return self.output(self.decode(tgt_in, self.encode(src)))

    def init_cache(self, enc: Encoded, max_len: int) -> DecoderCache:
        """A cache for up to ``max_len`` decoding steps; cross-attention K/V are computed here, once."""
        n = enc.memory.size(0)
        heads, head_dim = self.cfg.heads, self.cfg.d_model // self.cfg.heads
        self_kv = [
            (enc.memory.new_empty(n, heads, max_len, head_dim), enc.memory.new_empty(n, heads, max_len, head_dim))
            for _ in self.decoder
        ]
        cross_kv = [layer.cross_attn.project_kv(enc.memory) for layer in self.decoder]
        return DecoderCache(self_kv, cross_kv, enc.src_mask, capacity=max_len)

    def decode_step(self, tokens: Tensor, cache: DecoderCache) -> Tensor:
        """One step: tokens (N,) are the last outputs (first step: <s>) -> logits (N, V); the cache advances."""
        pos = cache.length
        if pos >= cache.capacity:
            raise ValueError(f"cache holds {cache.capacity} positions; decoding step {pos + 1} does not fit")
        x = self._embed(self.tgt_embed, tokens[:, None], offset=pos)  # (N, 1, D)
        for layer, self_kv, cross_kv in zip(self.decoder, cache.self_kv, cache.cross_kv):
            x = layer(x, cross_kv, cache.src_mask, self_cache=self_kv, pos=pos)
        cache.length = pos + 1
        return self.output(self.decoder_norm(x[:, 0]))  # (N, V)

    @contextmanager
    def record_attention(self) -> Iterator[Callable[[], tuple[Tensor, Tensor, Tensor]]]:
        """Inside, attention runs the readable path (slower) and keeps its weights; the yielded function returns
        those of the last forward pass: encoder self-attention (L_enc, B, H, S, S), decoder masked
        self-attention (L_dec, B, H, T, T) and cross-attention (L_dec, B, H, T, S). Layers count from 0."""
        kinds = ([layer.self_attn for layer in self.encoder], [layer.self_attn for layer in self.decoder],
                 [layer.cross_attn for layer in self.decoder])
        with keeping_weights(m for modules in kinds for m in modules):
            yield lambda: tuple(torch.stack([m.weights for m in modules]) for modules in kinds)  # type: ignore[return-value]

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())
