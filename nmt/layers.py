"""Transformer building blocks: sinusoidal positions, feed-forward, encoder and decoder layers."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from nmt.attention import CrossAttention, SelfAttention
from nmt.config import ModelConfig


class SinusoidalPositions(nn.Module):
    """PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(...), added to the scaled embeddings.
    Layout ``halves`` puts the same values as all sines, then all cosines (tensor2tensor, Marian)."""

    def __init__(self, max_positions: int, d_model: int, layout: str = "interleaved") -> None:
        super().__init__()
        pos = torch.arange(max_positions, dtype=torch.float32).unsqueeze(1)  # (P, 1)
        freq = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model))
        sin, cos = torch.sin(pos * freq), torch.cos(pos * freq[: d_model // 2])  # (P, ceil(D/2)), (P, D//2)
        pe = torch.zeros(max_positions, d_model)
        if layout == "halves":
            half = sin.size(1)
            pe[:, :half], pe[:, half:] = sin, cos
        else:
            pe[:, 0::2], pe[:, 1::2] = sin, cos
        self.register_buffer("pe", pe, persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        """x: (B, T, D) -> x + PE[offset : offset + T]."""
        t = x.size(1)
        if offset + t > self.pe.size(0):
            raise ValueError(f"sequence of {offset + t} positions exceeds the {self.pe.size(0)} of the table "
                             "(model.max_positions, plus room for padding to a multiple)")
        return x + self.pe[offset : offset + t]


class FeedForward(nn.Module):
    """FFN(x) = W2 act(W1 x + b1) + b2."""

    def __init__(self, d_model: int, ffn_dim: int, activation: str, dropout: float) -> None:
        super().__init__()
        self.w1 = nn.Linear(d_model, ffn_dim)
        self.act = {"relu": nn.ReLU, "gelu": nn.GELU, "swish": nn.SiLU}[activation]()
        self.dropout = nn.Dropout(dropout)
        self.w2 = nn.Linear(ffn_dim, d_model)

    def forward(self, x: Tensor) -> Tensor:
        return self.w2(self.dropout(self.act(self.w1(x))))


class _Residual(nn.Module):
    """x + dropout(f(x)) with LayerNorm before f (pre-norm) or after the sum (post-norm)."""

    def __init__(self, d_model: int, dropout: float, pre_norm: bool) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.dropout = nn.Dropout(dropout)
        self.pre_norm = pre_norm

    def forward(self, x: Tensor, fn: Callable[[Tensor], Tensor]) -> Tensor:
        if self.pre_norm:
            return x + self.dropout(fn(self.norm(x)))
        return self.norm(x + self.dropout(fn(x)))


class EncoderLayer(nn.Module):
    """Self-attention over the whole source (padding masked), then FFN."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        pre = cfg.norm == "pre"
        self.self_attn = SelfAttention(cfg.d_model, cfg.heads, cfg.attention_dropout)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_dim, cfg.activation, cfg.activation_dropout)
        self.res_attn = _Residual(cfg.d_model, cfg.dropout, pre)
        self.res_ffn = _Residual(cfg.d_model, cfg.dropout, pre)

    def forward(self, x: Tensor, src_mask: Tensor) -> Tensor:
        """x: (B, S, D); src_mask: (B, 1, 1, S), True at real tokens."""
        x = self.res_attn(x, lambda h: self.self_attn(h, mask=src_mask))
        return self.res_ffn(x, self.ffn)


class DecoderLayer(nn.Module):
    """Masked (causal) self-attention, cross-attention to the encoder output, then FFN."""

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        pre = cfg.norm == "pre"
        self.self_attn = SelfAttention(cfg.d_model, cfg.heads, cfg.attention_dropout)
        self.cross_attn = CrossAttention(cfg.d_model, cfg.heads, cfg.attention_dropout)
        self.ffn = FeedForward(cfg.d_model, cfg.ffn_dim, cfg.activation, cfg.activation_dropout)
        self.res_self = _Residual(cfg.d_model, cfg.dropout, pre)
        self.res_cross = _Residual(cfg.d_model, cfg.dropout, pre)
        self.res_ffn = _Residual(cfg.d_model, cfg.dropout, pre)

    def forward(
        self,
        x: Tensor,
        cross_kv: tuple[Tensor, Tensor],
        src_mask: Tensor,
        self_cache: tuple[Tensor, Tensor] | None = None,
        pos: int = 0,
    ) -> Tensor:
        """x: (B, T, D) target states; cross_kv: encoder K/V (B, H, S, Dh) from ``cross_attn.project_kv``."""
        x = self.res_self(x, lambda h: self.self_attn(h, causal=True, cache=self_cache, pos=pos))
        x = self.res_cross(x, lambda h: self.cross_attn(h, cross_kv, src_mask))
        return self.res_ffn(x, self.ffn)
