"""CTranslate2 export: the exported float32 model decodes exactly like nmt (greedy and beam search, outputs that
run to the length limit included), through the CLI too."""

import pytest
from typer.testing import CliRunner

from nmt.cli import app
from nmt.data import pad
from nmt.errors import NmtError
from nmt.run import load_run
from nmt.trainer import train
from nmt.translate import Translator
from tests.conftest import write_synthetic_corpus

ctranslate2 = pytest.importorskip("ctranslate2")
runner = CliRunner()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    folder = tmp_path_factory.mktemp("export")
    (folder / "cfg.yaml").write_text(write_synthetic_corpus(folder) + "train:\n  max_steps: 150\n  valid_every: 150\n")
    return train(folder / "cfg.yaml", run_dir=folder / "run").run_dir, folder


def test_exported_model_gives_nmt_greedy_outputs(run_dir):
    from nmt.ct2 import CT2Translator, export_ctranslate2

    run, folder = run_dir
    out = export_ctranslate2(run)
    assert (out / "model.bin").is_file() and (out / "spm.model").is_file()
    translator = Translator.load(run, device="cpu")  # CTranslate2 runs on the CPU here: compare like with like
    lines = (folder / "valid.en").read_text().splitlines() + (folder / "train.en").read_text().splitlines()[:70]
    ours = translator(lines, beam_size=1)
    theirs = CT2Translator(load_run(run, None)).translate(lines, beam_size=1)
    assert len({len(x.split()) for x in ours}) > 2  # varied, non-trivial outputs
    assert theirs == ours
    for unsupported in ({"glossary": {"w1": "w2x"}}, {"sampling": "topk:5"}):  # refused, not silently ignored
        with pytest.raises(NmtError, match="CTranslate2 engine searches only"):
            CT2Translator(load_run(run, None)).translate(lines, **unsupported)


def test_cli_export_and_engine(run_dir, tmp_path):
    run, _ = run_dir
    result = runner.invoke(app, ["export", str(run), str(tmp_path / "ct2")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "ct2" / "model.bin").is_file()
    result = runner.invoke(app, ["export", str(run), "--format", "onnx"])
    assert result.exit_code == 2 and "only ctranslate2" in result.stderr
    runner.invoke(app, ["export", str(run)])
    a = runner.invoke(app, ["translate", "--run", str(run), "-b", "1", "w1 w2 w3", "", "w4"])
    b = runner.invoke(app, ["translate", "--run", str(run), "-b", "1", "--engine", "ctranslate2", "w1 w2 w3", "", "w4"])
    assert a.exit_code == b.exit_code == 0 and a.stdout == b.stdout and len(b.stdout.splitlines()) == 3
    zero = runner.invoke(app, ["translate", "--run", str(run), "-b", "0", "--engine", "ctranslate2", "w1"])
    assert zero.exit_code == 2 and "--beam 0: the beam size must be at least 1" in zero.stderr


def test_per_side_vocabularies_with_a_tied_output_export_and_decode_alike(tmp_path):
    from nmt.ct2 import CT2Translator, export_ctranslate2

    (tmp_path / "cfg.yaml").write_text(
        write_synthetic_corpus(tmp_path).replace("tokenizer:\n", "tokenizer:\n  joint: false\n  src_vocab_size: 36\n")
        + "model:\n  tie_embeddings: false\n  tie_output: true\ntrain:\n  max_steps: 40\n  valid_every: 40\n")
    run = train(tmp_path / "cfg.yaml", run_dir=tmp_path / "run").run_dir
    translator = Translator.load(run, device="cpu")
    assert translator.model.output.weight is translator.model.tgt_embed.weight  # still tied after loading
    assert translator.tok.src_vocab_size == 36 != translator.tok.tgt_vocab_size
    export_ctranslate2(run)
    lines = (tmp_path / "valid.en").read_text().splitlines()
    assert CT2Translator(load_run(run, None)).translate(lines, beam_size=1) == translator(lines, beam_size=1)


@pytest.fixture(scope="module")
def early_run(tmp_path_factory):
    """A barely trained model: its outputs repeat until the length limit stops them."""
    folder = tmp_path_factory.mktemp("export-early")
    (folder / "cfg.yaml").write_text(write_synthetic_corpus(folder) + "train:\n  max_steps: 20\n  valid_every: 20\n")
    return train(folder / "cfg.yaml", run_dir=folder / "run").run_dir, folder


@pytest.mark.parametrize("fixture", ["run_dir", "early_run"])
@pytest.mark.parametrize("beam", [1, 4])
def test_both_engines_agree_at_the_length_limit_and_with_beams(fixture, beam, request):
    from nmt.ct2 import CT2Translator, export_ctranslate2
    from nmt.search import output_limits
    from nmt.translate import search_lines, source_ids

    run, folder = request.getfixturevalue(fixture)
    export_ctranslate2(run)
    translator = Translator.load(run, device="cpu")  # CTranslate2 runs on the CPU here: compare like with like
    lines = (folder / "valid.en").read_text().splitlines() + (folder / "train.en").read_text().splitlines()[:20]
    ours = translator(lines, beam_size=beam)
    theirs = CT2Translator(load_run(run, None)).translate(lines, beam_size=beam)
    assert theirs == ours
    if fixture == "early_run":  # the case this test is for: outputs stopped by a * |x| + b, per sentence
        _, hyps = search_lines(translator.model, translator.tok, lines, translator.settings(beam_size=beam),
                               translator.device)
        limits = output_limits(pad(source_ids(translator.tok, lines)), 1.5, 10, 64).tolist()
        at_limit = sum(len(h[0].tokens) == limit - 1 for h, limit in zip(hyps, limits))
        assert at_limit >= 10, f"only {at_limit} outputs reach the length limit"
