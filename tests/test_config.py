"""Config: YAML -> typed dataclasses; every bad input names the file, the key and the fix."""

from pathlib import Path

import pytest
import yaml

from nmt.config import Config, ConfigError, load_config, save_config

CONFIGS = Path(__file__).resolve().parent.parent / "configs"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("name", sorted(p.stem for p in CONFIGS.glob("*.yaml")))
def test_recipes_load(name):
    cfg = load_config(CONFIGS / f"{name}.yaml")
    assert cfg.name == name and (cfg.train.max_minutes or cfg.train.max_steps)  # every recipe carries its budget


def test_default_is_the_tatoeba_recipe():
    assert load_config(None).name == "tatoeba-en-de"


@pytest.mark.parametrize("preset,d_model,layers", [("tiny", 64, 2), ("compact", 128, 4), ("small", 256, 3),
                                                   ("base", 512, 6)])
def test_presets(tmp_path, preset, d_model, layers):
    cfg = load_config(write(tmp_path, f"preset: {preset}\nmodel:\n  dropout: 0.3\n"))
    assert (cfg.model.d_model, cfg.model.encoder_layers, cfg.model.dropout) == (d_model, layers, 0.3)


def test_unknown_key_names_file_key_and_nearest(tmp_path):
    path = write(tmp_path, "model:\n  hedas: 8\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert str(path) in str(err.value) and "model.hedas" in str(err.value) and "model.heads" in str(err.value)


@pytest.mark.parametrize("text,key", [
    ("model:\n  heads: four\n", "model.heads"),
    ("train:\n  lr: fast\n", "train.lr"),
    ("model:\n  tie_embeddings: 1\n", "model.tie_embeddings"),
    ("model:\n  norm: middle\n", "model.norm"),
    ("model: 3\n", "model"),
])
def test_wrong_type_names_key(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(write(tmp_path, text))


@pytest.mark.parametrize("text,key", [
    ("model:\n  d_model: 100\n  heads: 3\n", "model.d_model"),
    ("model:\n  dropout: 1.5\n", "model.dropout"),
    ("train:\n  batch_tokens: 0\n", "train.batch_tokens"),
    ("tokenizer:\n  joint: false\n", "model.tie_embeddings"),
])
def test_impossible_values(tmp_path, text, key):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        load_config(write(tmp_path, text))


def test_invalid_yaml_names_line(tmp_path):
    with pytest.raises(ConfigError, match=r"line 3"):
        load_config(write(tmp_path, "model:\n  heads: 4\n\td_model: 3\n"))  # a tab on line 3


def test_missing_file():
    with pytest.raises(ConfigError, match="not found"):
        load_config("no/such/config.yaml")


def test_overrides(tmp_path):
    cfg = load_config(write(tmp_path, "preset: tiny\n"), ["model.encoder_layers=6", "data.corpus=null",
                                                          "data.train=x.tsv", "train.betas=[0.9, 0.99]"])
    assert cfg.model.encoder_layers == 6 and cfg.data.corpus is None and cfg.train.betas == [0.9, 0.99]
    with pytest.raises(ConfigError, match="train.max_step"):
        load_config(write(tmp_path, ""), ["train.max_step=3"])
    with pytest.raises(ConfigError, match="KEY=VALUE"):
        load_config(None, ["model.heads"])


def test_saved_config_round_trips(tmp_path):
    cfg = load_config(CONFIGS / "multi30k-de-en.yaml", ["model.heads=8"])
    save_config(cfg, tmp_path / "config.yaml")
    again = load_config(tmp_path / "config.yaml")
    assert again == cfg
    assert "preset" not in yaml.safe_load((tmp_path / "config.yaml").read_text())
    assert isinstance(again, Config)


def test_negative_length_penalty_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="decode.length_penalty: must be zero"):
        load_config(None, ["decode.length_penalty=-0.2"])


def test_a_config_named_like_its_preset_finds_the_preset(tmp_path):
    """tiny.yaml with `preset: tiny` outside configs/ must read configs/presets/tiny.yaml, not itself."""
    (tmp_path / "tiny.yaml").write_text("preset: tiny\nname: mine\ntrain:\n  max_steps: 3\n")
    cfg = load_config(tmp_path / "tiny.yaml")
    assert cfg.name == "mine" and cfg.model.d_model == 64 and cfg.train.max_steps == 3


def test_a_config_without_a_name_trains_into_a_run_named_after_its_file(tmp_path):
    (tmp_path / "my-recipe.yaml").write_text("preset: tiny\n")
    (tmp_path / "named.yaml").write_text("name: chosen\n")
    assert load_config(tmp_path / "my-recipe.yaml").name == "my-recipe"
    assert load_config(tmp_path / "named.yaml").name == "chosen"
    assert load_config(tmp_path / "my-recipe.yaml", ["name=other"]).name == "other"
