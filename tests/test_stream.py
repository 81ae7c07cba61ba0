"""Streaming translation: lazy reading, output per chunk in input order, atomic -o, interactive terminals, Ctrl-C,
bad bytes, and the Moses n-best format."""

import os
import pty
import select
import shutil
import signal
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from nmt.cli import app
from nmt.errors import NmtError
from nmt.stream import count_lines, iter_lines, translate_stream
from nmt.translate import Translator
from tests.conftest import wait_until

runner = CliRunner()
NMT = [sys.executable, "-m", "nmt"]


def test_lines_are_decoded_one_by_one_and_errors_name_the_line(tmp_path):
    (tmp_path / "bin").write_bytes(b"ok\n\x00\x01\x02\n")
    lines = iter_lines(tmp_path / "bin")
    assert next(lines) == "ok"  # read before the bad line is reached
    with pytest.raises(NmtError, match="bin: line 2: binary data"):
        next(lines)
    (tmp_path / "latin1").write_bytes("ok\nGr\xfc\xdfe\n".encode("latin-1"))
    with pytest.raises(NmtError, match="line 2: not UTF-8"):
        list(iter_lines(tmp_path / "latin1"))
    (tmp_path / "ok").write_bytes(b"a\r\n\r\nb")
    assert list(iter_lines(tmp_path / "ok")) == ["a", "", "b"] and count_lines(tmp_path / "ok") == 3
    with pytest.raises(NmtError, match="missing.txt: input file not found"):
        iter_lines(tmp_path / "missing.txt")


def test_each_chunk_is_written_before_the_next_is_read(tmp_path, capsys):
    """The input is never held whole: when chunk k is translated, only k chunks have been read, and chunk k-1's
    output is already on stdout."""
    pulled = []

    def source():
        for i in range(10):
            pulled.append(i)
            yield f"s{i}"

    seen = []

    def translate(chunk, first):
        seen.append((len(pulled), first, capsys.readouterr().out))
        return [line.upper() for line in chunk]

    assert translate_stream(translate, source(), None, chunk_lines=3) == 10
    assert [(n, first) for n, first, _ in seen] == [(3, 0), (6, 3), (9, 6), (10, 9)]
    assert seen[1][2] == "S0\nS1\nS2\n" and seen[3][2] == "S6\nS7\nS8\n"
    assert capsys.readouterr().out == "S9\n"


def test_output_file_appears_only_when_all_is_translated(tmp_path):
    """Stopped halfway (Ctrl-C, a bad line): the old -o file is untouched and no temporary file is left."""
    out = tmp_path / "out.txt"
    out.write_text("old\n")

    def stop_at_second_chunk(chunk, first):
        if first:
            raise KeyboardInterrupt
        return chunk

    with pytest.raises(KeyboardInterrupt):
        translate_stream(stop_at_second_chunk, (f"s{i}" for i in range(5)), out, chunk_lines=2)
    assert out.read_text() == "old\n" and os.listdir(tmp_path) == ["out.txt"]
    assert translate_stream(lambda chunk, _: chunk, iter(["a", "b", "c"]), out, chunk_lines=2) == 3
    assert out.read_text() == "a\nb\nc\n" and os.listdir(tmp_path) == ["out.txt"]


def test_file_in_chunks_equals_one_batch_and_nbest_counts_across_chunks(synth_run, tmp_path):
    translator = Translator.load(synth_run, device="cpu")
    lines = ["w1 w2 w3", "", "w4", "w5 w6 w7 w8", "w9 w1", "w2 w2 w3 w4 w5"] * 8  # 48 lines, 3 chunks of 16
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    args = ["translate", "--run", str(synth_run), "--device", "cpu", "-i", str(tmp_path / "in.txt"),
            "--batch-size", "1"]
    result = runner.invoke(app, [*args, "-o", str(tmp_path / "out.txt")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out.txt").read_text().split("\n")[:-1] == translator(lines)
    nbest = runner.invoke(app, [*args, "-b", "3", "--n-best", "2"])
    assert nbest.exit_code == 0, nbest.output
    rows = [row.split(" ||| ") for row in nbest.stdout.splitlines()]
    expected = translator.translate(lines, beam_size=3, n_best=2)
    assert [len(nb) for nb in expected] == [2, 1, 2, 2, 2, 2] * 8  # an empty line: one empty translation
    assert [int(r[0]) for r in rows] == [i for i, nb in enumerate(expected) for _ in nb]  # numbered across chunks
    for (_, text, f0, score), t in zip(rows, [t for nb in expected for t in nb]):
        assert text == t.text and f0.startswith("F0= ") and float(score) == pytest.approx(t.score, abs=1e-4)
        assert float(f0[4:]) == pytest.approx(t.log_prob, abs=1e-4) and t.log_prob <= t.score <= 0


def test_a_terminal_gets_each_line_as_soon_as_it_is_entered(synth_run):
    """stdin a terminal: the first line's translation comes back while the input is still open."""
    expected = Translator.load(synth_run, device="cpu")(["w1 w2 w3", "w4 w5"])
    main, secondary = pty.openpty()
    proc = subprocess.Popen([*NMT, "translate", "--run", str(synth_run), "--device", "cpu"], stdin=secondary,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(secondary)
    try:
        os.write(main, b"w1 w2 w3\n")
        ready, _, _ = select.select([proc.stdout], [], [], 120)
        assert ready, "no output for a line typed at a terminal"
        assert proc.stdout.readline().decode().rstrip("\n") == expected[0]
        os.write(main, b"w4 w5\n")
        assert proc.stdout.readline().decode().rstrip("\n") == expected[1]
        os.write(main, b"\x04")  # Ctrl-D: end of input
        assert proc.wait(60) == 0
        assert "Ctrl-D ends" in proc.stderr.read().decode()
    finally:
        proc.kill()
        os.close(main)


def test_ctrl_c_halfway_through_a_file_leaves_no_output(synth_run, tmp_path):
    lines = [f"w{i % 30} w{(i * 7) % 30} w{(i * 3) % 30}" for i in range(40_000)]
    (tmp_path / "big.txt").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.txt"
    # SIGINT as at a terminal, however pytest was started (a shell's background job inherits it ignored, and
    # Python then never raises KeyboardInterrupt)
    proc = subprocess.Popen([*NMT, "translate", "--run", str(synth_run), "--device", "cpu", "--batch-size", "8",
                             "-i", str(tmp_path / "big.txt"), "-o", str(out)], stderr=subprocess.PIPE,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        def partial():  # the temporary file beside out.txt holds the first chunks
            return any(p.name.startswith(".out.txt.") and p.stat().st_size > 0 for p in tmp_path.iterdir())

        assert wait_until(partial, 120), "no partial output appeared"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(60) == 130
    finally:
        proc.kill()
    assert proc.stderr.read().decode().strip().splitlines()[-1] == "interrupted"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.txt"]  # no out.txt, no temporary file


def test_ctranslate2_engine_streams_the_same_way(synth_run, tmp_path):
    pytest.importorskip("ctranslate2")
    from nmt.ct2 import export_ctranslate2

    run = tmp_path / "run"
    shutil.copytree(synth_run, run)
    export_ctranslate2(run)
    lines = ["w1 w2 w3", "", "w4 w5"] * 30
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n")
    result = runner.invoke(app, ["translate", "--run", str(run), "--engine", "ctranslate2", "-b", "1",
                                 "--batch-size", "2", "-i", str(tmp_path / "in.txt"), "-o", str(tmp_path / "out.txt")])
    assert result.exit_code == 0, result.output
    expected = Translator.load(run, device="cpu")(lines, beam_size=1)
    assert (tmp_path / "out.txt").read_text().split("\n")[:-1] == expected
