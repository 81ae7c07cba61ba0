"""Transformer building blocks: the sinusoidal table as the paper writes it, pre- and post-norm residuals."""

import math

import torch

from nmt.layers import FeedForward, SinusoidalPositions, _Residual


def test_sinusoidal_positions_follow_the_formula():
    pe = SinusoidalPositions(50, 16).pe  # (P, D)
    for pos, i in ((0, 0), (3, 2), (17, 5), (49, 7)):
        angle = pos / 10000 ** (2 * i / 16)
        assert math.isclose(float(pe[pos, 2 * i]), math.sin(angle), abs_tol=1e-5)
        assert math.isclose(float(pe[pos, 2 * i + 1]), math.cos(angle), abs_tol=1e-5)
    x = torch.zeros(2, 4, 16)
    assert torch.equal(SinusoidalPositions(50, 16)(x, offset=3), pe[3:7].expand(2, 4, 16))


def test_residual_puts_layernorm_before_or_after():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8)
    ffn = FeedForward(8, 16, "relu", 0.0)
    pre, post = _Residual(8, 0.0, pre_norm=True), _Residual(8, 0.0, pre_norm=False)
    assert torch.allclose(pre(x, ffn), x + ffn(pre.norm(x)))
    assert torch.allclose(post(x, ffn), post.norm(x + ffn(x)))
