"""The command line as a user runs it: train -> translate -> eval, and one-line errors with exit code 2."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from nmt.cli import app
from tests.conftest import SHARED_DATA, needs_shared

runner = CliRunner()
ROOT = Path(__file__).resolve().parent.parent


def _nmt(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "nmt", *args], cwd=cwd, input=stdin, capture_output=True,
                          text=True, env=env, timeout=300)


@needs_shared
def test_train_translate_eval_on_real_data(tmp_path):
    lines = {lang: (SHARED_DATA / "multi30k" / f"train.{lang}").read_text(encoding="utf-8").splitlines()
             for lang in ("en", "de")}
    for name, part in (("train", slice(0, 300)), ("valid", slice(300, 340))):
        for lang in ("en", "de"):
            (tmp_path / f"{name}.{lang}").write_text("\n".join(lines[lang][part]) + "\n", encoding="utf-8")
    (tmp_path / "cfg.yaml").write_text(
        "name: smoke\npreset: tiny\n"
        f"data:\n  corpus: null\n  train: {tmp_path}/train\n  valid: {tmp_path}/valid\n"
        f"  test:\n    valid: {tmp_path}/valid\n"
        "train:\n  max_steps: 30\n  valid_every: 15\n  log_every: 10\n", encoding="utf-8")
    result = runner.invoke(app, ["train", str(tmp_path / "cfg.yaml"), "--run-dir", str(tmp_path / "runs" / "smoke")])
    assert result.exit_code == 0, result.output
    run = tmp_path / "runs" / "smoke"
    assert (run / "config.yaml").is_file() and (run / "spm.model").is_file()
    assert (run / "checkpoints" / "best" / "model.safetensors").is_file()
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert any("valid_bleu" in m for m in metrics) and any("tokens_per_s" in m for m in metrics)

    result = runner.invoke(app, ["translate", "--run", str(run), "A dog runs.", "", "Two men."])
    assert result.exit_code == 0, result.output
    out = result.stdout.split("\n")
    assert len(out) == 4 and out[1] == "" and out[3] == ""  # three lines; the empty input stays empty

    (tmp_path / "in.txt").write_text("A dog.\n\nA cat.\n", encoding="utf-8")
    result = runner.invoke(app, ["translate", "--run", str(run), "-i", str(tmp_path / "in.txt"), "-o",
                                 str(tmp_path / "out.txt"), "--beam", "3"])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "out.txt").read_text(encoding="utf-8").split("\n")) == 4

    result = runner.invoke(app, ["eval", "--run", str(run), "--beam", "2", "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)["valid"]
    assert scores["sentences"] == 40 and scores["bleu"]["signature"].startswith("nrefs:1")

    result = runner.invoke(app, ["eval", "--run", str(run), "--beam", "1", "--corpus", "multi30k", "--json",
                                 "--set", "decode.max_len_a=0", "--set", "decode.max_len_b=5"])  # 1,000 short lines
    assert result.exit_code == 0, result.output  # another corpus's test sets, in the run's languages
    assert list(json.loads(result.stdout)) == ["test_2016_flickr"]
    assert (run / "eval" / "test_2016_flickr.hyp.de").is_file()

    result = runner.invoke(app, ["train", str(tmp_path / "cfg.yaml"), "--run-dir", str(run),
                                 "--resume", "--set", "train.max_steps=40"])
    assert result.exit_code == 0, result.output
    assert "resumed" in result.output and "step 40" in result.output


@needs_shared
def test_default_recipe_then_translate_hello(tmp_path):
    """`nmt train` with the default config (Tatoeba en->de), shrunk, then `nmt translate "Hello"`."""
    rows = (SHARED_DATA / "tatoeba" / "eng-deu.tsv").read_text(encoding="utf-8").splitlines()
    (tmp_path / "data" / "tatoeba").mkdir(parents=True)
    (tmp_path / "data" / "tatoeba" / "eng-deu.tsv").write_text("\n".join(rows[::300]) + "\n", encoding="utf-8")
    sets = ["model.d_model=32", "model.ffn_dim=64", "model.encoder_layers=1", "model.decoder_layers=1",
            "tokenizer.vocab_size=300", "train.max_steps=5", "train.valid_every=5", "train.batch_tokens=1024"]
    args = ["train"] + [x for s in sets for x in ("--set", s)]
    done = _nmt(*args, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "runs" / "tatoeba-en-de" / "checkpoints" / "best" / "model.safetensors").is_file()
    done = _nmt("translate", "Hello", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) == 1


@pytest.mark.parametrize("args,needle", [
    (["translate", "Hello"], "no trained model found"),
    (["eval"], "no trained model found"),
    (["train", "missing.yaml"], "missing.yaml: config file not found"),
    (["train", "--set", "model.hedas=2"], "did you mean 'model.heads'"),
    (["eval", "--hyp", "h.txt"], "--hyp and --ref go together"),
    (["train", "--checkpoint", "last"], "--checkpoint last: it chooses the weights --init-from starts from"),
    (["train", "--init-from", "nowhere"], "nowhere: not a run directory"),
    (["import", "nowhere"], "nowhere: not a folder"),
    (["tokenizer", "encode", "Hello"], "no trained model found"),
])
def test_errors_are_one_line_with_exit_code_2(tmp_path, monkeypatch, args, needle):
    """In-process (a subprocess per case cost 4 s of start-up each); the real entry point's error path is
    `test_debug_shows_traceback`'s and `test_a_bad_command_line_is_one_line_from_the_real_entry_point`'s."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NMT_DATA", raising=False)
    result = runner.invoke(app, args)
    assert result.exit_code == 2, result.output
    assert needle in result.stderr
    assert "Traceback" not in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_bad_command_line_is_one_line_from_the_real_entry_point(tmp_path):
    done = _nmt("translate", "Hello", cwd=tmp_path)
    assert done.returncode == 2
    assert "no trained model found" in done.stderr
    assert "Traceback" not in done.stderr and len(done.stderr.strip().splitlines()) == 1


def test_debug_shows_traceback(tmp_path):
    done = _nmt("translate", "Hello", "--debug", cwd=tmp_path)
    assert done.returncode != 0 and "Traceback" in done.stderr
