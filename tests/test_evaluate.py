"""sacreBLEU scores with signatures."""

import pytest

from nmt.errors import NmtError
from nmt.evaluate import score, score_files


def test_scores_and_signatures():
    refs = ["Ein Hund läuft im Park.", "Zwei Katzen schlafen."]
    perfect = score(refs, refs)
    assert perfect["bleu"]["score"] == 100.0 and perfect["chrf"]["score"] == 100.0 and perfect["ter"]["score"] == 0.0
    for metric in ("bleu", "chrf", "ter"):
        assert "version:" in perfect[metric]["signature"]
    worse = score(["Ein Hund.", "Katzen."], refs)
    assert worse["bleu"]["score"] < 100.0 and worse["ter"]["score"] > 0.0


def test_line_count_mismatch(tmp_path):
    (tmp_path / "h").write_text("a\nb\n", encoding="utf-8")
    (tmp_path / "r").write_text("a\n", encoding="utf-8")
    with pytest.raises(NmtError, match="2 lines but .* has 1"):
        score_files(tmp_path / "h", tmp_path / "r")
