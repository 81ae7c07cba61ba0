"""Writing files safely: atomic writes, one writer per run directory, unwritable folders."""

import pytest

from nmt.errors import NmtError
from nmt.files import RunLock, check_writable
from nmt.trainer import train
from tests.conftest import write_synthetic_corpus


def test_unwritable_run_directory_fails_at_start():
    with pytest.raises(NmtError, match="cannot write the run directory"):
        check_writable(__import__("pathlib").Path("/proc/nmt-cannot-write-here/run"))


def test_one_writer_per_run_and_stale_locks(tmp_path):
    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(write_synthetic_corpus(tmp_path) + "train:\n  max_steps: 2\n  valid_every: 2\n")
    run = tmp_path / "run"
    run.mkdir()
    with RunLock(run):
        with pytest.raises(NmtError, match="already being trained by pid"):
            train(cfg_path, run_dir=run)
    (run / ".lock").write_text("pid 99999999\n")  # left behind by a process that died: not locked
    assert train(cfg_path, run_dir=run).steps == 2
