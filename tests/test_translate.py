"""Translation from a run directory: batching order, empty/too-long/binary input, missing or damaged runs."""

import shutil

import pytest
from typer.testing import CliRunner

from nmt.cli import app
from nmt.errors import NmtError
from nmt.trainer import train
from nmt.translate import Translator, read_input
from tests.conftest import write_synthetic_corpus

runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("translate")
    cfg = folder / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(folder) + "model:\n  max_positions: 24\n"
                   "train:\n  max_steps: 40\n  valid_every: 40\n")
    return train(cfg, run_dir=folder / "run").run_dir


def test_outputs_keep_input_order_and_empty_lines(run_dir):
    translator = Translator.load(run_dir)
    lines = ["w1 w2 w3 w4 w5 w6", "", "w3", "w4 w5", "   "]
    batched = translator(lines, beam_size=2)
    one_by_one = [translator([line], beam_size=2)[0] for line in lines]
    assert batched == one_by_one
    assert batched[1] == "" and batched[4] == ""


def test_too_long_input_is_truncated_with_a_warning(run_dir, capsys):
    translator = Translator.load(run_dir)
    out = translator([" ".join(["w1"] * 60)], beam_size=1)
    assert len(out) == 1
    assert "truncated to model.max_positions=24" in capsys.readouterr().err


def test_binary_and_non_utf8_input(tmp_path):
    (tmp_path / "bin").write_bytes(b"ok\n\x00\x01\x02\n")
    with pytest.raises(NmtError, match="line 2: binary data"):
        read_input(tmp_path / "bin")
    (tmp_path / "latin1").write_bytes("ok\nGr\xfc\xdfe\n".encode("latin-1"))
    with pytest.raises(NmtError, match="line 2: not UTF-8"):
        read_input(tmp_path / "latin1")
    (tmp_path / "ok").write_bytes(b"a\r\n\r\nb\n")
    assert read_input(tmp_path / "ok") == ["a", "", "b"]


@pytest.mark.parametrize("damage,needle", [
    ("spm.model", "spm.model: tokenizer model missing"),
    ("config.yaml", "not a run directory"),
    ("checkpoints/best/model.safetensors", "no 'best' checkpoint"),
    ("truncate", "model.safetensors: damaged"),
])
def test_missing_or_damaged_run_files(run_dir, tmp_path, damage, needle):
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    if damage == "truncate":
        weights = copy / "checkpoints" / "best" / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[:100])
    else:
        (copy / damage).unlink()
    result = runner.invoke(app, ["translate", "--run", str(copy), "w1 w2"])
    assert result.exit_code == 2
    assert needle in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("beam", ["0", "-3"])
def test_beam_size_below_one_is_refused(run_dir, beam):
    result = runner.invoke(app, ["translate", "--run", str(run_dir), "-b", beam, "w1 w2"])
    assert result.exit_code == 2, result.output
    assert f"--beam {beam}: the beam size must be at least 1" in result.stderr and "Traceback" not in result.stderr


def test_decode_options_are_validated(run_dir):
    translator = Translator.load(run_dir)
    with pytest.raises(NmtError, match="decode.length_penalty: must be zero"):
        translator.translate(["w1 w2"], beam_size=3, length_penalty=-0.5)
    with pytest.raises(NmtError, match="decode.batch_size: must be at least 1"):
        translator.translate(["w1 w2"], batch_size=0)
