"""What a GPU run does differently, checked on the CPU: batch widths padded to a multiple (fewer shapes, the same
results), token-budget decoding batches, bf16 decoding, and the attention kernels chosen on CUDA."""

import random

import pytest
import torch

from nmt.attention import attention_kernels
from nmt.config import CUDA_DECODE_TOKENS, DecodeConfig, TrainConfig
from nmt.constants import BOS_ID, EOS_ID
from nmt.data import collate, pad, token_batches
from nmt.search import beam_search, greedy_search
from nmt.trainer import batch_loss
from nmt.translate import Translator
from tests.conftest import random_sources


def _lengths(n: int = 2000, seed: int = 0) -> tuple[list[int], list[int]]:
    """Source and target lengths spread like a real corpus's (5 to 45 tokens, the target near the source)."""
    rng = random.Random(seed)
    src = [rng.randint(5, 45) for _ in range(n)]
    return src, [max(1, s + rng.randint(-4, 4)) for s in src]


def test_padding_to_a_multiple_of_8_cuts_the_batch_shapes_within_the_budget():
    src, tgt = _lengths()
    shapes = {}
    for multiple in (1, 8):
        batches = token_batches(src, tgt, 1024, seed=1, multiple=multiple)
        assert sorted(i for b in batches for i in b) == list(range(len(src)))  # every pair once
        seen = set()
        for b in batches:
            batch = collate([[5] * (src[i] - 1) + [EOS_ID] for i in b], [[6] * tgt[i] for i in b], BOS_ID, multiple)
            width = max(batch.src.size(1), batch.tgt_in.size(1))
            assert batch.src.size(1) % multiple == 0 and batch.tgt_in.size(1) % multiple == 0
            assert len(b) * width <= 1024  # the padding is counted in the budget
            seen.add((batch.src.shape, batch.tgt_in.shape))
        shapes[multiple] = len(seen)
    assert shapes[8] < shapes[1] / 2


def test_padding_to_a_multiple_changes_no_result(tiny_model):
    tiny_model.eval()
    src = random_sources(5, seed=3)
    tgt = random_sources(5, seed=4)
    exact, wide = collate(src, tgt), collate(src, tgt, multiple=8)
    assert wide.src.size(1) == 16 and exact.src.size(1) < 16
    with torch.no_grad():
        assert torch.allclose(batch_loss(tiny_model, exact, 0.1), batch_loss(tiny_model, wide, 0.1), atol=1e-5)
    greedy = [[h.tokens for h in greedy_search(tiny_model, pad(src, m), 1.0, 4, 1)] for m in (1, 8)]
    beam = [[h[0].tokens for h in beam_search(tiny_model, pad(src, m), 3, 0.6, 1.0, 4, 1)] for m in (1, 8)]
    assert greedy[0] == greedy[1] and beam[0] == beam[1]


def test_decoding_batches_by_tokens_and_in_bf16(synth_run):
    translator = Translator.load(synth_run)
    lines = [" ".join(f"w{(i * 7 + j) % 30}" for j in range(1 + i % 9)) for i in range(40)]
    plain = translator(lines, beam_size=3)
    assert translator(lines, beam_size=3, batch_tokens=12) == plain  # many small batches, the same output
    assert translator(lines, beam_size=3, precision="bf16") == plain  # the synthetic run is sure of its answers


def test_device_dependent_settings_resolve_by_device():
    d = DecodeConfig()
    assert d.batch_limits("cpu") == (64, 0) and d.batch_limits("cuda") == (0, CUDA_DECODE_TOKENS)
    assert DecodeConfig(batch_tokens=2000).batch_limits("cuda") == (64, 2000)
    t = TrainConfig()
    assert t.pad_multiple("cpu") == 1 and t.pad_multiple("cuda") == 8 and TrainConfig(pad_to_multiple=16).pad_multiple(
        "cpu") == 16


def test_on_cuda_attention_avoids_cudnn_and_elsewhere_torch_chooses():
    before = torch.backends.cuda.cudnn_sdp_enabled()
    with attention_kernels(torch.device("cuda")):
        assert torch.backends.cuda.flash_sdp_enabled() and torch.backends.cuda.mem_efficient_sdp_enabled()
        assert torch.backends.cuda.math_sdp_enabled()  # the fallback for head sizes the fused kernels refuse
        assert not torch.backends.cuda.cudnn_sdp_enabled()
    assert torch.backends.cuda.cudnn_sdp_enabled() == before
    for device, choice in ((torch.device("cpu"), "auto"), (torch.device("cuda"), "torch")):
        with attention_kernels(device, choice):
            assert torch.backends.cuda.cudnn_sdp_enabled() == before


@pytest.mark.parametrize("value,needle", [(-1, "zero or positive"), (65, "at most 64")])
def test_bad_pad_multiple_is_named(value, needle):
    from nmt.config import ConfigError

    with pytest.raises(ConfigError, match=f"train.pad_to_multiple.*{needle}"):
        TrainConfig(pad_to_multiple=value).validate()


def test_a_compile_mode_without_compile_is_named():
    from nmt.config import ConfigError

    with pytest.raises(ConfigError, match="train.compile_mode: 'reduce-overhead' needs train.compile: true"):
        TrainConfig(compile_mode="reduce-overhead").validate()
    TrainConfig(compile=True, compile_mode="reduce-overhead").validate()
