"""Translation from a run directory: batching order, empty and too-long input (cut, not truncated), binary
input, missing or damaged runs."""

import shutil

import pytest
from typer.testing import CliRunner

from nmt.cli import app
from nmt.errors import NmtError
from nmt.translate import Translator

runner = CliRunner()


@pytest.fixture
def run_dir(synth_run):
    return synth_run


def test_outputs_keep_input_order_and_empty_lines(run_dir):
    translator = Translator.load(run_dir)
    lines = ["w1 w2 w3 w4 w5 w6", "", "w3", "w4 w5", "   "]
    batched = translator(lines, beam_size=2)
    one_by_one = [translator([line], beam_size=2)[0] for line in lines]
    assert batched == one_by_one
    assert batched[1] == "" and batched[4] == ""


def test_too_long_input_is_cut_into_parts_that_fit_never_truncated(run_dir, capsys):
    translator = Translator.load(run_dir)
    line = " ".join(["w1"] * 30 + ["w2,"] + ["w3"] * 30)
    found = translator.search([line])
    limit = translator.cfg.model.max_positions  # 24: the line is 62 tokens
    assert len(found.prep.inputs) >= 3 and all(len(ids) <= limit for ids in found.src_ids)
    assert " ".join(found.prep.inputs) == line  # every word reaches the model, the comma its best break
    assert found.prep.inputs[0].endswith("w2,") or any(x.endswith("w2,") for x in found.prep.inputs)
    out = translator([line], beam_size=1)
    assert len(out) == 1 and out[0]
    assert "truncated" not in capsys.readouterr().err


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


def test_translate_and_eval_take_decode_settings_from_the_command_line(run_dir):
    """`--set decode.KEY=VALUE`, `--length-penalty` and `--batch-size` change this call's decoding only."""
    args = ["translate", "--run", str(run_dir), "w1 w2 w3 w4 w5", "-b", "2"]
    short = runner.invoke(app, [*args, "--set", "decode.max_len_a=0", "--set", "decode.max_len_b=2"])
    assert short.exit_code == 0, short.output
    assert len(short.stdout.split()) <= 1  # at most one piece before the forced </s>
    assert runner.invoke(app, [*args, "--length-penalty", "0", "--batch-size", "1"]).exit_code == 0
    assert "max_len_b: 10" in (run_dir / "config.yaml").read_text()  # the run's config is untouched
    for bad, needle in ((["--set", "model.heads=2"], "decode settings only"),
                        (["--length-penalty", "-1"], "decode.length_penalty: must be zero"),
                        (["--set", "decode.beam_sise=2"], "did you mean 'decode.beam_size'")):
        result = runner.invoke(app, [*args, *bad])
        assert result.exit_code == 2 and needle in result.stderr, result.output
    result = runner.invoke(app, ["eval", "--run", str(run_dir), "-b", "1", "--set", "decode.max_len_b=1",
                                 "--set", "decode.max_len_a=0", "--json"])
    assert result.exit_code == 0, result.output
    assert '"bleu"' in result.stdout


def test_every_command_names_a_run_with_run(run_dir, tmp_path):
    """`--run` on every command; the older spellings (train's --run-dir, positional RUN) still work."""
    result = runner.invoke(app, ["plot", "--run", str(run_dir), "-o", str(tmp_path / "curves.png")])
    assert result.exit_code == 0 and (tmp_path / "curves.png").is_file(), result.output
    result = runner.invoke(app, ["plot", str(run_dir), "--run", str(tmp_path)])
    assert result.exit_code == 2 and "given twice" in result.stderr
    result = runner.invoke(app, ["average", "--run", str(run_dir), "--last", "1"])
    assert result.exit_code == 0 and (run_dir / "checkpoints" / "averaged").is_dir(), result.output
    pytest.importorskip("ctranslate2")
    result = runner.invoke(app, ["export", "--run", str(run_dir), "--out", str(tmp_path / "ct2")])
    assert result.exit_code == 0 and (tmp_path / "ct2" / "model.bin").is_file(), result.output
    config = (run_dir / "config.yaml").read_text().replace("max_steps: 40", "max_steps: 2")
    (tmp_path / "cfg.yaml").write_text(config.replace("valid_every: 40", "valid_every: 2"))
    result = runner.invoke(app, ["train", str(tmp_path / "cfg.yaml"), "--run", str(tmp_path / "again")])
    assert result.exit_code == 0 and (tmp_path / "again" / "checkpoints" / "last").is_dir(), result.output
