"""The training display and metrics log: JSON lines that survive a crash, plain lines off a terminal."""

import json

from rich.console import Console

from nmt.progress import MetricsLog, TrainProgress


def test_metrics_log_appends_one_json_object_per_record(tmp_path):
    path = tmp_path / "metrics.jsonl"
    with MetricsLog(path) as log:
        log.write({"step": 1, "loss": 2.5})
        assert json.loads(path.read_text()) == {"step": 1, "loss": 2.5}  # flushed at once, not at close
    with MetricsLog(path) as log:  # a resumed run appends
        log.write({"step": 2, "valid_bleu": 1.0})
    assert [json.loads(x)["step"] for x in path.read_text().splitlines()] == [1, 2]


def test_progress_prints_plain_lines_when_not_on_a_terminal():
    console = Console(record=True, width=200, force_terminal=False)
    with TrainProgress(console, total=10, start=0) as progress:
        progress.update(5, {"epoch": 1, "loss": 3.14159, "lr": 1e-3, "tokens_per_s": 12345.6})
        progress.log_validation({"step": 5, "valid_loss": 2.0, "valid_ppl": 7.39, "valid_bleu": 12.34}, True)
        progress.log_validation({"step": 6}, False)
    text = console.export_text()
    assert "step 5  epoch 1  loss 3.142  lr 1.00e-03  12,346 tok/s" in text
    assert "BLEU 12.34 (best)" in text and "checkpoint saved (no validation data)" in text
