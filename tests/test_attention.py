"""Attention behaviour: the formula, the masks, and which stream feeds which attention."""

import math

import torch
import torch.nn.functional as F

from nmt.attention import CrossAttention, SelfAttention, attention_reference
from nmt.constants import PAD_ID
from nmt.data import pad
from tests.conftest import random_sources


def test_reference_equals_formula_by_hand():
    q = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])  # (1, 1, 2, 2)
    k = torch.tensor([[[[1.0, 0.0], [1.0, 1.0], [0.0, 2.0]]]])  # (1, 1, 3, 2)
    v = torch.tensor([[[[1.0], [2.0], [3.0]]]])
    out, w = attention_reference(q, k, v)
    s = 1 / math.sqrt(2)
    for row, scores in enumerate(([1 * s, 1 * s, 0.0], [0.0, 1 * s, 2 * s])):
        e = [math.exp(x) for x in scores]
        expected_w = [x / sum(e) for x in e]
        assert torch.allclose(w[0, 0, row], torch.tensor(expected_w), atol=1e-6)
        assert math.isclose(float(out[0, 0, row, 0]), sum(a * b for a, b in zip(expected_w, [1, 2, 3])), rel_tol=1e-6)


def test_multi_head_equals_split_attend_concat_project():
    torch.manual_seed(0)
    attn = SelfAttention(d_model=8, heads=2).eval()
    x = torch.randn(3, 5, 8)
    q, k, v = attn.qkv(x).split(8, dim=-1)
    heads = []
    for h in range(2):
        sl = slice(4 * h, 4 * h + 4)
        scores = q[..., sl] @ k[..., sl].transpose(1, 2) / 2.0  # sqrt(d_k) = 2
        heads.append(scores.softmax(-1) @ v[..., sl])
    expected = attn.out(torch.cat(heads, dim=-1))
    assert torch.allclose(attn(x), expected, atol=1e-5)


def test_fast_path_equals_reference_path_with_masks():
    torch.manual_seed(1)
    for causal in (False, True):
        attn = SelfAttention(16, 4).eval()
        x = torch.randn(2, 6, 16)
        mask = torch.ones(2, 1, 1, 6, dtype=torch.bool)
        mask[1, ..., 4:] = False
        fast = attn(x, mask=None if causal else mask, causal=causal)
        attn.keep_weights = True
        slow = attn(x, mask=None if causal else mask, causal=causal)
        assert torch.allclose(fast, slow, atol=1e-5)
        if causal:
            assert torch.all(attn.weights.triu(1) == 0)  # nothing above the diagonal


def test_later_target_tokens_never_change_earlier_outputs(tiny_model):
    src = pad(random_sources(2))
    tgt = torch.randint(4, 40, (2, 7))
    base = tiny_model(src, tgt)
    for t in range(1, 7):
        changed = tgt.clone()
        changed[:, t:] = torch.randint(4, 40, changed[:, t:].shape)
        out = tiny_model(src, changed)
        assert torch.allclose(out[:, :t], base[:, :t], atol=1e-5), f"position < {t} saw the future"
    assert not torch.allclose(tiny_model(src, changed)[:, -1], base[:, -1])  # the test can fail


def test_padding_never_changes_other_positions(tiny_model):
    srcs = random_sources(3)
    tgt = torch.randint(4, 40, (3, 5))
    src = pad(srcs)
    padded = F.pad(src, (0, 4), value=PAD_ID)  # 4 extra pad columns
    a, b = tiny_model(src, tgt), tiny_model(padded, tgt)
    assert torch.allclose(a, b, atol=1e-5)
    enc_a, enc_b = tiny_model.encode(src), tiny_model.encode(padded)
    real = src != PAD_ID
    assert torch.allclose(enc_a.memory[real], enc_b.memory[:, : src.size(1)][real], atol=1e-5)
    # each sentence alone (no padding at all) gives the same as inside the padded batch
    for i, s in enumerate(srcs):
        alone = tiny_model(torch.tensor([s]), tgt[i : i + 1])
        assert torch.allclose(alone[0], a[i], atol=1e-5)


def test_cross_attention_reads_k_v_from_encoder_output(tiny_model):
    src, tgt = pad(random_sources(2)), torch.randint(4, 40, (2, 5))
    enc = tiny_model.encode(src)
    seen = {}
    hooks = []

    def record(key):
        def hook(module, args, output):
            seen[key] = args[0]  # the projection's input

        return hook

    for i, layer in enumerate(tiny_model.decoder):
        hooks.append(layer.cross_attn.kv.register_forward_hook(record(("kv", i))))
        hooks.append(layer.cross_attn.q.register_forward_hook(record(("q", i))))
        hooks.append(layer.self_attn.qkv.register_forward_hook(record(("self", i))))
    tiny_model.decode(tgt, enc)
    for h in hooks:
        h.remove()
    for i in range(len(tiny_model.decoder)):
        assert torch.equal(seen[("kv", i)], enc.memory)  # K and V from the encoder output
        assert seen[("q", i)].shape[1] == tgt.shape[1]  # Q from the decoder (target length)
        assert seen[("self", i)].shape[1] == tgt.shape[1]  # self-attention over the target only
    # and the decoder output depends on the source through it
    other = tiny_model.decode(tgt, tiny_model.encode(pad(random_sources(2, seed=5))))
    assert not torch.allclose(other, tiny_model.decode(tgt, enc))


def test_cross_attention_masks_source_padding():
    torch.manual_seed(2)
    attn = CrossAttention(16, 4).eval()
    x, memory = torch.randn(1, 3, 16), torch.randn(1, 5, 16)
    mask = torch.tensor([True, True, True, False, False])[None, None, None, :]
    out = attn(x, attn.project_kv(memory), mask)
    memory2 = memory.clone()
    memory2[:, 3:] = torch.randn(1, 2, 16) * 10  # garbage where the source is padding
    assert torch.allclose(out, attn(x, attn.project_kv(memory2), mask), atol=1e-5)


def test_self_attention_uses_one_fused_qkv_projection():
    attn = SelfAttention(16, 4)
    linears = [m for m in attn.modules() if isinstance(m, torch.nn.Linear)]
    assert [tuple(m.weight.shape) for m in linears] == [(16, 16), (48, 16)]  # W^O and the fused W_QKV
