"""The model's interface: cached step-wise decoding equals the full pass; the cache reorders; tying."""

import pytest
import torch

from nmt.config import ModelConfig
from nmt.constants import BOS_ID, MAX_PAD_MULTIPLE
from nmt.data import pad
from nmt.model import Transformer
from tests.conftest import random_sources, tiny_model_config


@pytest.mark.parametrize("norm", ["pre", "post"])
def test_cached_steps_equal_full_forward(norm):
    torch.manual_seed(0)
    model = Transformer(tiny_model_config(norm=norm), 40, 40).eval()
    src = pad(random_sources(3))
    tgt = torch.cat([torch.full((3, 1), BOS_ID), torch.randint(4, 40, (3, 8))], dim=1)
    full = model(src, tgt)  # (B, T, V)
    cache = model.init_cache(model.encode(src), max_len=tgt.size(1))
    steps = torch.stack([model.decode_step(tgt[:, t], cache) for t in range(tgt.size(1))], dim=1)
    assert torch.allclose(full, steps, atol=1e-5)


def test_cache_reorder_follows_rows(tiny_model):
    src = pad(random_sources(3))
    tgt = torch.randint(4, 40, (3, 4))
    cache = tiny_model.init_cache(tiny_model.encode(src), 6)
    for t in range(3):
        tiny_model.decode_step(tgt[:, t], cache)
    index = torch.tensor([2, 0, 0, 1])  # permute, duplicate (beams), and grow the batch
    cache.reorder(index)
    got = tiny_model.decode_step(tgt[index, 3], cache)
    expected = tiny_model(src[index], tgt[index])[:, 3]
    assert torch.allclose(got, expected, atol=1e-5)
    assert cache.rows == 4


@torch.inference_mode()
def test_cache_reorders_in_a_row_stay_exact(tiny_model):
    """Inference reorders copy only the written positions, into buffers reused from the previous reorder:
    a chain of reorders (shrink, permute, grow past the old row count) must still equal the full pass."""
    src = pad(random_sources(4))
    tgt = torch.randint(4, 40, (4, 7))
    rows = torch.arange(4)  # the sentence behind each cache row
    cache = tiny_model.init_cache(tiny_model.encode(src), 7)
    for t, index in enumerate([None, torch.tensor([3, 1]), torch.tensor([1, 0]), torch.tensor([0, 1, 1, 0, 1]),
                               None, torch.tensor([4, 2, 0])]):
        if index is not None:
            cache.reorder(index)
            rows = rows[index]
        got = tiny_model.decode_step(tgt[rows, t], cache)
        expected = tiny_model(src[rows], tgt[rows])[:, t]
        assert torch.allclose(got, expected, atol=1e-5), f"step {t}"


def test_cross_attention_kv_computed_once_per_sentence(tiny_model):
    src = pad(random_sources(2))
    calls = []
    hook = tiny_model.decoder[0].cross_attn.kv.register_forward_hook(lambda *a: calls.append(1))
    cache = tiny_model.init_cache(tiny_model.encode(src), 5)
    for _ in range(5):
        tiny_model.decode_step(torch.full((2,), BOS_ID), cache)
    hook.remove()
    assert len(calls) == 1


def test_tied_embeddings_share_one_matrix():
    model = Transformer(tiny_model_config(tie_embeddings=True), 40, 40)
    assert model.src_embed.weight is model.tgt_embed.weight is model.output.weight
    untied = Transformer(tiny_model_config(tie_embeddings=False), 40, 50)
    assert untied.output.weight.shape == (50, 32)
    assert untied.src_embed.weight is not untied.tgt_embed.weight


def test_sequence_longer_than_positions_is_refused():
    model = Transformer(ModelConfig(d_model=16, heads=2, ffn_dim=32, encoder_layers=1, decoder_layers=1,
                                    max_positions=8), 20, 20)
    with pytest.raises(ValueError, match="max_positions"):
        model.encode(torch.randint(4, 20, (1, 8 + MAX_PAD_MULTIPLE)))  # past the positions and the padding room


def test_grouped_rows_share_cross_attention_kv(tiny_model):
    """Beam search's k rows per sentence attend to one copy of the sentence's K/V; results are unchanged."""
    src = pad(random_sources(3))
    cache = tiny_model.init_cache(tiny_model.encode(src), 6)
    cache.reorder(torch.arange(3).repeat_interleave(4), group=4)  # 4 beams per sentence
    assert cache.rows == 12 and cache.cross_kv[0][0].size(0) == 3  # not copied per beam
    tgt = torch.randint(4, 40, (12, 3))
    for t in range(2):
        tiny_model.decode_step(tgt[:, t], cache)
    shuffle = torch.tensor([1, 0, 3, 3, 4, 4, 4, 7, 11, 8, 9, 9])  # beams move within their sentence
    cache.reorder(shuffle)
    assert cache.cross_kv[0][0].size(0) == 3
    got = tiny_model.decode_step(tgt[shuffle, 2], cache)
    expected = tiny_model(src.repeat_interleave(4, dim=0)[shuffle], tgt[shuffle])[:, 2]
    assert torch.allclose(got, expected, atol=1e-5)
    cache.reorder(torch.arange(4, 12), group=4)  # sentence 0 finished: dropped
    assert cache.cross_kv[0][0].size(0) == 2 and cache.src_mask.size(0) == 2


def test_tie_output_shares_the_target_embedding_and_the_output_only():
    from tests.conftest import tiny_model_config

    model = Transformer(tiny_model_config(tie_embeddings=False, tie_output=True), 50, 30)
    assert model.output.weight is model.tgt_embed.weight
    assert model.src_embed.weight is not model.tgt_embed.weight and model.src_embed.weight.shape[0] == 50
    untied = Transformer(tiny_model_config(tie_embeddings=False), 50, 30)
    assert untied.output.weight is not untied.tgt_embed.weight
