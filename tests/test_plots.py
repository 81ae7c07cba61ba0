"""Pictures: attention heatmaps, the terminal table, training curves."""

import pytest
from PIL import Image
from rich.console import Console

from nmt.plots import plot_attention, show_attention
from tests.conftest import attention_maps_of


def test_pictures_are_valid_pngs(reverse_model, tmp_path):
    model, _, _ = reverse_model
    maps = attention_maps_of(model, [5, 6, 7, 8, 9])
    for kind in ("self", "masked", "cross"):
        plot_attention(maps, kind, tmp_path / f"{kind}.png")
    plot_attention(maps, "cross", tmp_path / "grid.png", all_heads=True)
    plot_attention(maps, "cross", tmp_path / "head.png", layer=0, head=1)
    for name in ("self", "masked", "cross", "grid", "head"):
        with Image.open(tmp_path / f"{name}.png") as image:
            image.verify()
            assert image.format == "PNG" and image.size[0] > 300 and image.size[1] > 200
    with pytest.raises(IndexError):
        maps.matrix("cross", layer=5)


def test_terminal_table_shows_tokens_and_weights(reverse_model):
    model, _, _ = reverse_model
    console = Console(record=True, width=200)
    show_attention(attention_maps_of(model, [5, 6, 7]), "cross", console)
    text = console.export_text()
    assert "s5" in text and "t7" in text and "cross-attention" in text
