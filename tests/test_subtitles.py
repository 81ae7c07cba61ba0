"""Subtitles (nmt/subtitles.py): cues translated, everything else as it was; lines wrapped to 42 characters, 2 a
cue; styling tags kept; a bad timing line is named."""

import re

import pytest
from typer.testing import CliRunner

from nmt.cli import app
from nmt.errors import NmtError
from nmt.subtitles import TAG, translate_srt, translate_vtt, wrap

SRT = """1
00:00:01,000 --> 00:00:02,000
<i>Hello there.</i>

2
00:00:02,500 --> 00:00:04,000 X1:10 X2:20
How are you
today, my friend?

7
00:00:05,000 --> 00:00:06,000
<i>Quiet.</i>
Say <b>nothing</b> now.

"""

VTT = """\ufeffWEBVTT Kind: captions

NOTE written for the tests

STYLE
::cue { color: yellow }

intro
00:00:01.000 --> 00:00:03.500 align:start line:0
<v Anna>Hello there.
How are you?

00:00:04.000 --> 00:00:05.000
<c.yellow>Fine.</c>
"""


def longer(lines: list[str]) -> list[str]:
    """A stand-in translator: what it was given, louder and longer (German runs longer than English)."""
    return [f"{line.upper()} (und noch etwas mehr)" for line in lines]


def structure(text: str) -> list[str]:
    """Everything of a subtitle file but its cue text: indices, timing lines, headers."""
    return [line for line in text.splitlines() if "-->" in line or line.isdigit() or line.startswith(("WEBVTT",
            "NOTE", "STYLE", "::cue", "intro", "\ufeff"))]


def test_srt_cues_are_translated_and_indices_timings_and_tags_are_kept():
    out = translate_srt(SRT, longer)
    assert structure(out) == structure(SRT)
    assert "HOW ARE YOU TODAY, MY FRIEND? (und noch etwas mehr)" in out.replace("\n", " ")  # the lines joined
    assert sorted(TAG.findall(out)) == sorted(TAG.findall(SRT))
    assert "<i>HELLO THERE. (und noch etwas mehr)</i>" in out
    for cue in out.strip().split("\n\n"):
        text = cue.split("\n")[2:]
        assert 1 <= len(text) <= 2 and all(len(TAG.sub("", line)) <= 42 for line in text), cue


def test_vtt_keeps_its_bom_header_notes_styles_identifiers_and_cue_settings():
    out = translate_vtt(VTT, longer)
    assert out.startswith("\ufeffWEBVTT Kind: captions\n")
    assert structure(out) == structure(VTT)
    assert "<v Anna>HELLO THERE. HOW ARE YOU?" in out.replace("\n", " ")
    assert "<c.yellow>FINE. (und noch etwas mehr)</c>" in out


def test_crlf_files_come_back_with_crlf():
    out = translate_srt(SRT.replace("\n", "\r\n"), longer)
    assert "\r\n" in out and "\n" not in out.replace("\r\n", "")


@pytest.mark.parametrize("text", ["Kurz.", "Ein Satz, der nicht auf eine Zeile von zweiundvierzig Zeichen passt.",
                                  "Ein <i>Satz</i>, der nicht auf eine Zeile von zweiundvierzig Zeichen passt."])
def test_wrap_gives_at_most_two_even_lines_and_loses_nothing(text):
    out = wrap(text)
    lines = out.split("\n")
    assert len(lines) <= 2 and out.replace("\n", " ") == text
    assert all(len(TAG.sub("", line)) <= 42 for line in lines)


def test_a_text_too_long_for_two_lines_gets_two_longer_lines_nothing_cut():
    text = " ".join(["Wort"] * 30)
    assert wrap(text).replace("\n", " ") == text and wrap(text).count("\n") == 1


@pytest.mark.parametrize("translate,bad,line", [
    (translate_srt, SRT.replace("00:00:02,500 --> 00:00:04,000", "00:00:02,500 -> 00:00:0x,000 -->"), 6),
    (translate_vtt, VTT.replace("00:00:04.000 --> 00:00:05.000", "00:00:04,000 --> 00:00:05,000"), 13),
])
def test_a_bad_timing_line_is_named_with_its_line_number(translate, bad, line):
    with pytest.raises(NmtError, match=rf"^talk\.sub:{line}: not a subtitle timing line"):
        translate(bad, longer, "talk.sub")


def test_a_cue_without_text_and_a_file_without_cues_come_through():
    assert translate_srt("", longer) == ""
    out = translate_vtt("WEBVTT\n\n00:00:01.000 --> 00:00:02.000\n\n", longer)
    assert re.search(r"00:00:01.000 --> 00:00:02.000", out)


def test_nmt_translate_picks_the_subtitle_format_by_extension_and_writes_the_file_whole(synth_run, tmp_path):
    source = tmp_path / "talk.srt"
    source.write_text("1\n00:00:01,000 --> 00:00:02,000\nw1 w2 w3\n\n2\n00:00:03,000 --> 00:00:04,000\n"
                      "<i>w4 w5</i>\n\n", encoding="utf-8")
    out = tmp_path / "talk.de.srt"
    result = CliRunner().invoke(app, ["translate", "--run", str(synth_run), "-i", str(source), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert structure(out.read_text(encoding="utf-8")) == structure(source.read_text(encoding="utf-8"))
    assert "<i>" in out.read_text(encoding="utf-8") and "w1 w2 w3" not in out.read_text(encoding="utf-8")
    source.write_text("1\n00:00:01,000 --> 00:00:0x,000\nw1\n", encoding="utf-8")
    bad = CliRunner().invoke(app, ["translate", "--run", str(synth_run), "-i", str(source), "-o", str(out)])
    assert bad.exit_code == 2 and "talk.srt:2: not a subtitle timing line" in bad.stderr


def test_the_subtitle_files_of_the_page_set_keep_every_timing_and_cue():
    """tests/pages: three subtitle files (.srt with tags, .vtt with voices and a note, a CRLF .srt)."""
    from pathlib import Path

    files = sorted((Path(__file__).parent / "pages").glob("*.[sv][rt][tt]"))
    assert len(files) >= 3
    for path in files:
        text = path.read_text(encoding="utf-8")
        translate = translate_srt if path.suffix == ".srt" else translate_vtt
        out = translate(text, lambda lines: [x.upper() for x in lines])
        timings = [line for line in text.splitlines() if "-->" in line]
        assert [line for line in out.splitlines() if "-->" in line] == timings, path.name
        assert sorted(TAG.findall(out)) == sorted(TAG.findall(text)), path.name
        assert ("\r\n" in out) == ("\r\n" in text), path.name


RUN_ON = """1
00:00:01,000 --> 00:00:03,000
When I was young, my father

2
00:00:03,000 --> 00:00:05,500
took me to the sea

3
00:00:05,500 --> 00:00:07,000
every summer.

4
00:00:08,000 --> 00:00:09,000
<i>It rained.</i>

"""


def test_merge_cues_translates_a_sentence_over_several_cues_as_one_and_splits_it_back_by_length():
    asked: list[list[str]] = []

    def record(lines):
        asked.append(list(lines))
        return lines

    assert translate_srt(RUN_ON, record, merge=True) == RUN_ON  # as is: cut back where the cues were
    assert asked == [["When I was young, my father took me to the sea every summer.", "It rained."]]
    asked.clear()
    assert translate_srt(RUN_ON, record) == RUN_ON and len(asked[0]) == 4  # not asked for: cue by cue
    out = translate_srt(RUN_ON, lambda lines: [f"{line.upper()} (und noch etwas mehr)" for line in lines], merge=True)
    assert structure(out) == structure(RUN_ON)
    cues = [block.split("\n", 2)[2] for block in out.strip().split("\n\n")]
    assert " ".join(" ".join(cues[:3]).split()) == ("WHEN I WAS YOUNG, MY FATHER TOOK ME TO THE SEA EVERY SUMMER. "
                                                    "(und noch etwas mehr)")  # every word once, in order
    assert all(cue.strip() for cue in cues) and cues[3] == "<i>IT RAINED. (und noch etwas mehr)</i>"


def test_split_by_length_follows_the_shares_prefers_punctuation_and_loses_nothing():
    from nmt.subtitles import split_by_length

    assert split_by_length("Ich weiß nicht, ob wir morgen noch kommen können, sagte er.", [20, 25, 15]) == [
        "Ich weiß nicht,", "ob wir morgen noch kommen können,", "sagte er."]
    assert split_by_length("a b", [3, 3, 3]) == ["a", "b", ""]
    assert split_by_length("eins zwei drei vier", [1, 1, 1, 100]) == ["eins", "zwei", "drei", "vier"]


def test_merge_cues_is_for_subtitles_only(synth_run, tmp_path):
    result = CliRunner().invoke(app, ["translate", "--run", str(synth_run), "--merge-cues", "w1 w2"])
    assert result.exit_code == 2 and "--merge-cues: for subtitles only" in result.output
    source, out = tmp_path / "a.srt", tmp_path / "b.srt"
    source.write_text(RUN_ON, encoding="utf-8")
    result = CliRunner().invoke(app, ["translate", "--run", str(synth_run), "--merge-cues", "-i", str(source),
                                      "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert structure(out.read_text(encoding="utf-8")) == structure(RUN_ON)
