"""Scaled dot-product attention and multi-head attention (self and cross).

Two paths compute the same thing: ``F.scaled_dot_product_attention`` (fast, fused) and
:func:`attention_reference`, softmax(QK^T / sqrt(d_k) + M) V written out, which also returns the weights.
Masks are boolean, ``True`` where a query may attend.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.nn.attention import SDPBackend, sdpa_kernel

# on CUDA: flash for the decoder's causal self-attention (it takes no mask), memory-efficient for the masked ones,
# the plain (math) kernel for shapes neither takes (a head size they do not support); not cuDNN's attention, which
# builds an execution plan for every new (batch, length) shape
CUDA_KERNELS = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]


def attention_kernels(device: torch.device, choice: str = "auto") -> AbstractContextManager:
    """The fused attention kernels to allow while training or decoding on ``device`` (``train.attention_kernels``):
    ``auto`` allows CUDA_KERNELS on CUDA; elsewhere, and with ``torch``, PyTorch chooses."""
    return sdpa_kernel(CUDA_KERNELS) if choice == "auto" and device.type == "cuda" else nullcontext()


def attention_reference(
    q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None = None, causal: bool = False, dropout_p: float = 0.0
) -> tuple[Tensor, Tensor]:
    """softmax(QK^T / sqrt(d_k) + M) V. q: (B, H, Tq, Dh), k/v: (B, H, Tk, Dh) -> (out, weights (B, H, Tq, Tk))."""
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, H, Tq, Tk)
    if causal:
        tq, tk = scores.shape[-2:]
        future = torch.ones(tq, tk, dtype=torch.bool, device=q.device).triu(tk - tq + 1)  # True above the diagonal
        scores = scores.masked_fill(future, float("-inf"))
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    weights = scores.softmax(dim=-1)
    if dropout_p > 0.0:
        weights = F.dropout(weights, p=dropout_p)
    return weights @ v, weights


@contextmanager
def keeping_weights(modules: Iterable[nn.Module]) -> Iterator[None]:
    """Inside, the attention modules among ``modules`` take the readable path and keep the weights of their last
    call in ``.weights`` (B, H, Tq, Tk); outside, they are back on the fast path with nothing kept."""
    heads = [m for m in modules if isinstance(m, _MultiHead)]
    for m in heads:
        m.keep_weights = True
    try:
        yield
    finally:
        for m in heads:
            m.keep_weights, m.weights = False, None


class _MultiHead(nn.Module):
    """Shared head bookkeeping: split into heads, attend, concatenate, project with W^O."""

    def __init__(self, d_model: int, heads: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = d_model // heads
        self.dropout = dropout
        self.out = nn.Linear(d_model, d_model)  # W^O
        self.keep_weights = False  # when True, use the reference path and keep the weights in .weights
        self.weights: Tensor | None = None

    def _split(self, x: Tensor, parts: int) -> tuple[Tensor, ...]:
        b, t, _ = x.shape
        x = x.view(b, t, parts, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)  # (parts, B, H, T, Dh)
        return x.unbind(0)

    def _attend(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
        """Attention per head, heads concatenated, then W^O: (B, T, D)."""
        out = self._heads(q, k, v, mask, causal)  # (B, H, T, Dh)
        b, _, t, _ = out.shape
        out = out.transpose(1, 2).reshape(b, t, self.heads * self.head_dim)  # concat heads: (B, T, D)
        return self.out(out)

    def _heads(self, q: Tensor, k: Tensor, v: Tensor, mask: Tensor | None, causal: bool) -> Tensor:
        p = self.dropout if self.training else 0.0
        if self.keep_weights:
            out, self.weights = attention_reference(q, k, v, mask, causal, p)
        elif q.size(-2) == 1 and not causal and p == 0.0:  # a decoding step: plain matmuls beat the fused kernel
            scores = q @ k.transpose(-2, -1) * (q.size(-1) ** -0.5)  # (B, H, 1, Tk)
            if mask is not None:
                scores = scores.masked_fill(~mask, float("-inf"))
            out = scores.softmax(dim=-1) @ v
        else:
            tq, tk = q.size(-2), k.size(-2)
            if causal and tq != tk:  # SDPA's is_causal aligns top-left; queries here are the last tq positions
                later = torch.ones(tq, tk, dtype=torch.bool, device=q.device).tril(tk - tq)
                mask, causal = (later if mask is None else mask & later), False
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p, is_causal=causal)
        return out


class SelfAttention(_MultiHead):
    """Q, K and V all from the same sequence, through one fused projection."""

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__(d_model, heads, dropout)
        self.qkv = nn.Linear(d_model, 3 * d_model)

    def forward(
        self,
        x: Tensor,
        mask: Tensor | None = None,
        causal: bool = False,
        cache: tuple[Tensor, Tensor] | None = None,
        pos: int = 0,
    ) -> Tensor:
        """x: (B, T, D). With ``cache`` (K, V buffers (B, H, max_len, Dh)), x's K/V are written at ``pos`` and
        queries attend to every cached position up to ``pos + T``: only earlier positions, so no mask is needed
        when T == 1."""
        q, k, v = self._split(self.qkv(x), 3)  # each (B, H, T, Dh)
        if cache is not None:
            k_buf, v_buf = cache
            end = pos + x.size(1)
            k_buf[:, :, pos:end] = k
            v_buf[:, :, pos:end] = v
            k, v = k_buf[:, :, :end], v_buf[:, :, :end]  # (B, H, end, Dh)
            causal = causal and x.size(1) > 1  # one new query may see every cached (earlier) position
        return self._attend(q, k, v, mask, causal)


class CrossAttention(_MultiHead):
    """Q from the decoder; K and V from the encoder output (one fused K/V projection, computed once per sentence)."""

    def __init__(self, d_model: int, heads: int, dropout: float = 0.0) -> None:
        super().__init__(d_model, heads, dropout)
        self.q = nn.Linear(d_model, d_model)
        self.kv = nn.Linear(d_model, 2 * d_model)

    def project_kv(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """Encoder output (B, S, D) -> K, V each (B, H, S, Dh), contiguous: they are read at every decoding step,
        and a strided K would be copied by every matmul (measured: 2.7x slower attention at 32 rows, 20 positions)."""
        k, v = self._split(self.kv(memory), 2)
        return k.contiguous(), v.contiguous()

    def forward(self, x: Tensor, kv: tuple[Tensor, Tensor], mask: Tensor | None) -> Tensor:
        """x: decoder states (B, T, D); kv from :meth:`project_kv`, (n, H, S, Dh); mask (n, 1, 1, S) hides
        source padding. When B = n * g (beam search: g rows per sentence), each sentence's g rows are attended
        together as g * T queries over the sentence's one copy of K and V."""
        (q,) = self._split(self.q(x), 1)  # (B, H, T, Dh)
        n, group = kv[0].size(0), x.size(0) // kv[0].size(0)
        b, h, t, dh = q.shape
        q = q.view(n, group, h, t, dh).transpose(1, 2).reshape(n, h, group * t, dh)  # beams as queries
        out = self._heads(q, kv[0], kv[1], mask, causal=False)  # (n, H, g*T, Dh)
        out = out.view(n, h, group, t, dh).permute(0, 2, 3, 1, 4).reshape(b, t, h * dh)  # (B, T, D)
        return self.out(out)
