"""Seeing attention: weights from the readable path, pictures, terminal tables, alignments, training curves."""

import random

import pytest
import torch
from PIL import Image
from typer.testing import CliRunner

from nmt.attention_maps import attention_weights, attention_weights_batch, token_alignment, word_alignment, word_ids
from nmt.cli import app
from nmt.data import pad
from nmt.plots import plot_training
from nmt.trainer import train
from tests.conftest import attention_maps_of, random_sources, reverse_samples, write_synthetic_corpus

runner = CliRunner()


def test_readable_path_equals_fast_path_and_is_masked(tiny_model):
    src, tgt = pad(random_sources(3)), torch.randint(4, 40, (3, 6))
    fast = tiny_model(src, tgt)
    encoder, masked, cross = attention_weights(tiny_model, random_sources(1)[0], [5, 6, 7, 8])
    assert all(m.weights is None and not m.keep_weights for m in tiny_model.modules() if hasattr(m, "keep_weights"))
    with tiny_model.record_attention() as weights:
        slow = tiny_model(src, tgt)
        assert [w.shape[:3] for w in weights()] == [(2, 3, 4), (2, 3, 4), (2, 3, 4)]  # (layers, batch, heads)
    assert torch.allclose(fast, slow, atol=1e-5)
    assert masked.shape[-1] == masked.shape[-2] == 5  # 4 tokens + </s>
    assert torch.all(masked.triu(diagonal=1) == 0)  # exactly zero above the diagonal
    assert torch.allclose(masked.sum(-1), torch.ones(masked.shape[:-1]), atol=1e-5)
    assert torch.allclose(cross.sum(-1), torch.ones(cross.shape[:-1]), atol=1e-5)
    assert encoder.shape[-1] == cross.shape[-1]


def test_batched_weights_equal_one_pair_at_a_time(tiny_model, monkeypatch):
    """Explaining many pairs pads them into few passes: each pair's weights are its own, padding changes nothing."""
    pairs = [(src, [5 + k % 30 for k in range(1 + (3 * n) % 9)]) for n, src in enumerate(random_sources(9))]
    one_by_one = [attention_weights(tiny_model, src, out) for src, out in pairs]
    monkeypatch.setattr("nmt.attention_maps.ALIGN_BATCH_TOKENS", 64)  # several passes of several pairs
    batched = attention_weights_batch(tiny_model, pairs)
    for alone, together, (src, out) in zip(one_by_one, batched, pairs):
        assert together[2].shape[-2:] == (len(out) + 1, len(src))
        for a, b in zip(alone, together):
            assert a.shape == b.shape and torch.allclose(a, b, atol=1e-5)


def test_alignment_recovers_reversed_positions(reverse_model):
    model, _, _ = reverse_model
    right = total = 0
    for seq in reverse_samples(random.Random(7), 100):
        maps = attention_maps_of(model, seq)
        for s, t in token_alignment(maps.matrix("cross")):  # default: last layer, mean over heads
            right += s == len(seq) - 1 - t
            total += 1
    assert right / total >= 0.8, f"alignment recovered {right / total:.0%} of reversed positions"


def test_word_alignment_merges_pieces():
    assert word_ids(["▁Ein", "▁Hund", "e", "▁läuft", "</s>"]) == [0, 1, 1, 2, None]
    src = ["▁A", "▁dog", "s", "▁run", "</s>"]
    tgt = ["▁Hund", "e", "▁rennen", "▁ein", "</s>"]
    cross = torch.zeros(5, 5)
    cross[0, 1] = cross[1, 2] = 1.0  # Hund+e -> dog+s
    cross[2, 3] = 1.0  # rennen -> run
    cross[3, 0] = 1.0  # ein -> A
    cross[4, 4] = 1.0
    assert word_alignment(cross, src, tgt) == [(1, 0), (2, 1), (0, 2)]


@pytest.fixture(scope="module")
def text_run(tmp_path_factory):
    folder = tmp_path_factory.mktemp("att")
    cfg = folder / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(folder) + "train:\n  max_steps: 30\n  valid_every: 10\n")
    return train(cfg, run_dir=folder / "run").run_dir


def test_cli_attention_align_and_plot(text_run, tmp_path):
    png = tmp_path / "out.png"
    result = runner.invoke(app, ["translate", "--run", str(text_run), "w1 w2 w3", "", "w4", "--attention", str(png),
                                 "--align", "--show-attention", "--attention-kind", "masked"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and all(" ||| " in line for line in (lines[0], lines[2]))
    assert all(pair.count("-") == 1 for pair in lines[0].split(" ||| ")[1].split())
    assert png.is_file() and (tmp_path / "out-3.png").is_file() and not (tmp_path / "out-2.png").exists()
    assert "masked self-attention" in result.stderr
    result = runner.invoke(app, ["translate", "--run", str(text_run), "w1", "--attention", str(png), "--layer", "9"])
    assert result.exit_code == 2 and "--layer 9" in result.stderr
    result = runner.invoke(app, ["plot", str(text_run), "-o", str(tmp_path / "curves.png")])
    assert result.exit_code == 0, result.output
    with Image.open(tmp_path / "curves.png") as image:
        assert image.format == "PNG" and image.size[0] > 800
    assert plot_training(text_run) == text_run / "training.png"


def test_tensorboard_switch(tmp_path):
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(tmp_path) + "train:\n  max_steps: 4\n  valid_every: 2\n  log_every: 2\n"
                   "  tensorboard: true\n")
    try:
        import tensorboard  # noqa: F401
    except ImportError:
        from nmt.errors import NmtError

        with pytest.raises(NmtError, match="needs the tensorboard package"):
            train(cfg, run_dir=tmp_path / "run")
        return
    train(cfg, run_dir=tmp_path / "run")
    assert any((tmp_path / "run" / "tensorboard").iterdir())
