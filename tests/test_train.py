"""The training loop: where it stops and why, what runs under autocast, and signals before training starts."""

import json
import math
import os
import signal
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from nmt import trainer as train_module
from nmt.errors import NmtError
from nmt.run import resolve_run
from nmt.trainer import StopSignals, TrainState, train
from nmt.translate import Translator
from tests.conftest import write_synthetic_corpus

ROOT = Path(__file__).resolve().parent.parent


def _config(tmp_path: Path, extra: str = "", data: str = "") -> Path:
    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(tmp_path).replace("data:\n", "data:\n" + data) + extra)
    return cfg


def test_an_epoch_without_batches_stops_with_an_error_instead_of_hanging(tmp_path):
    """Streaming never knows in advance that every pair will be filtered out: the first empty epoch says so."""
    cfg = _config(tmp_path, "train:\n  max_steps: 5\n", data="  streaming: true\n  max_tokens: 2\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "nmt", "train", str(cfg), "--run-dir", str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "epoch 1 gave no training batch" in proc.stderr and "too long" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()


def test_patience_counts_only_validations_that_measured_bleu(tmp_path):
    cfg = _config(tmp_path, "train:\n  max_steps: 12\n  valid_every: 2\n  patience: 1\n")
    text = cfg.read_text()
    cfg.write_text("\n".join(line for line in text.splitlines() if not line.startswith("  valid:")) + "\n")
    # (no validation set: every validation measures no BLEU)
    result = train(cfg, run_dir=tmp_path / "run")
    assert result.steps == 12 and "max_steps" in result.stopped
    # without validation BLEU, `best` follows `last`
    state = json.loads((tmp_path / "run" / "checkpoints" / "best" / "state.json").read_text())
    assert state["step"] == 12


def test_patience_still_stops_when_bleu_stops_improving(tmp_path, monkeypatch):
    scores = iter([5.0, 4.0, 6.0, 3.0, 2.0, 1.0])
    monkeypatch.setattr(train_module.Trainer, "validation_scores",
                        lambda self, valid, n: {"valid_loss": 1.0, "valid_ppl": 2.7, "valid_bleu": next(scores)})
    cfg = _config(tmp_path, "train:\n  max_steps: 40\n  valid_every: 2\n  patience: 2\n")
    result = train(cfg, run_dir=tmp_path / "run")
    assert result.steps == 10 and "train.patience" in result.stopped  # 6.0 at step 6, then two worse
    assert result.best_bleu == 6.0


def test_backward_runs_outside_autocast(tmp_path, monkeypatch):
    """Only the forward pass and the loss belong under autocast (PyTorch's AMP recipe)."""
    inside = {"now": False, "backward_inside": 0, "forward_inside": 0}

    @contextmanager
    def spy(*args, **kwargs):
        inside["now"] = True
        try:
            yield
        finally:
            inside["now"] = False

    real_backward, real_loss = torch.Tensor.backward, train_module.batch_loss

    def backward(self, *args, **kwargs):
        inside["backward_inside"] += inside["now"]
        return real_backward(self, *args, **kwargs)

    def loss(*args, **kwargs):
        inside["forward_inside"] += inside["now"]
        return real_loss(*args, **kwargs)

    monkeypatch.setattr(train_module.torch, "autocast", spy)
    monkeypatch.setattr(torch.Tensor, "backward", backward)
    monkeypatch.setattr(train_module, "batch_loss", loss)
    train(_config(tmp_path, "train:\n  max_steps: 3\n  valid_every: 3\n"), run_dir=tmp_path / "run")
    assert inside["forward_inside"] >= 3 and inside["backward_inside"] == 0


def test_a_signal_while_data_is_prepared_leaves_nothing(tmp_path, monkeypatch):
    """SIGTERM during SentencePiece/data preparation: exit 143, no run directory, LATEST untouched."""
    runs = tmp_path / "runs"
    cfg = _config(tmp_path, "train:\n  max_steps: 2\n  valid_every: 2\n")
    good = train(cfg, overrides=[f"runs_root={runs}"]).run_dir
    real_prepare = train_module.prepare

    def prepare_then_signal(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # handled between bytecodes, inside preparation
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(train_module, "prepare", prepare_then_signal)
    with pytest.raises(NmtError, match="stopped by SIGTERM before training started") as info:
        train(cfg, overrides=[f"runs_root={runs}", "name=stopped"])
    assert info.value.exit_code == 143
    assert not (runs / "stopped").exists()
    assert (runs / "LATEST").read_text().strip() == good.name
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers restored


def test_a_signal_that_code_turns_into_another_error_still_stops_cleanly(tmp_path, monkeypatch):
    """The signal's exception raised where a library wraps it (SentencePiece's C++ loop, a datasets worker):
    before, the run exited 1 and left config.yaml; now it is the signal's stop, 143, and nothing is left."""
    runs = tmp_path / "runs"
    cfg = _config(tmp_path, "train:\n  max_steps: 2\n  valid_every: 2\n")
    real_prepare = train_module.prepare

    def prepare_wrapping_the_signal(*args, **kwargs):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
        except Exception as err:  # noqa: BLE001 - as a library would
            raise RuntimeError(f"wrapped: {err}") from None
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(train_module, "prepare", prepare_wrapping_the_signal)
    with pytest.raises(NmtError, match="stopped by SIGTERM before training started") as info:
        train(cfg, overrides=[f"runs_root={runs}", "name=stopped"])
    assert info.value.exit_code == 143 and not (runs / "stopped").exists()


def test_sigterm_at_many_points_of_start_up_exits_143_and_leaves_no_run(tmp_path):
    import time

    # enough steps that no delay below outlasts the training on a fast machine (a run that has finished exits 0)
    cfg = _config(tmp_path, "train:\n  max_steps: 100000\n  valid_every: 100000\n  threads: 1\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    # from the interpreter's start-up through imports, the run directory, SentencePiece and data preparation
    for i, delay in enumerate((0.2, 0.8, 1.5, 2.2, 3.0, 4.0)):
        run = tmp_path / f"run{i}"
        proc = subprocess.Popen([sys.executable, "-m", "nmt", "train", str(cfg), "--run-dir", str(run)],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        time.sleep(delay)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=120)
        started = (run / "checkpoints").exists()  # past start-up: a polite stop, which keeps its checkpoint
        assert proc.returncode in (143, -signal.SIGTERM), (delay, proc.returncode, err)
        assert "Traceback" not in err, err
        assert started or not run.exists(), (delay, sorted(p.name for p in run.iterdir()))


def test_train_state_round_trips_and_ignores_unknown_keys():
    state = TrainState(step=7, epoch=1, batch=3, best_bleu=12.5, bad_validations=1, validated_at=6)
    import dataclasses

    raw = {**dataclasses.asdict(state), "param_groups": []}
    assert TrainState.from_dict(raw) == state


def test_nonfinite_losses_skip_updates_then_stop(tmp_path, monkeypatch):
    from nmt import trainer as train_module

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(write_synthetic_corpus(tmp_path) + "train:\n  max_steps: 8\n  valid_every: 2\n"
                        "  log_every: 4\n  max_nonfinite: 3\n")
    real_loss = train_module.batch_loss
    calls = {"n": 0}

    def flaky(model, batch, ls):
        loss = real_loss(model, batch, ls)
        if not model.training:  # validation
            return loss
        calls["n"] += 1
        return loss * float("nan") if calls["n"] in (3, 4) else loss  # two bad steps in a row, then fine

    monkeypatch.setattr(train_module, "batch_loss", flaky)
    result = train(cfg_path, run_dir=tmp_path / "run")
    assert result.steps == 8 and calls["n"] == 8  # a skipped update still counts as a step
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["skipped_updates"] for r in records if "loss" in r] == [2, 0]  # logged at steps 4 and 8
    assert all(math.isfinite(r["loss"]) for r in records if "loss" in r)  # skipped losses are left out
    model = Translator.load(tmp_path / "run", checkpoint="last").model
    assert all(torch.isfinite(p).all() for p in model.parameters())
    good = {k: v.clone() for k, v in model.state_dict().items()}

    monkeypatch.setattr(train_module, "batch_loss",
                        lambda m, b, ls: real_loss(m, b, ls) * (float("nan") if m.training else 1.0))
    with pytest.raises(NmtError, match="4 updates in a row had a NaN/Inf loss"):
        train(cfg_path, run_dir=tmp_path / "run", resume=True, overrides=["train.max_steps=20"])
    # steps 9-10 were skipped and saved at the step-10 validation (2 < 3 in a row); at step 12 the run stopped
    state = json.loads((tmp_path / "run" / "checkpoints" / "last" / "state.json").read_text())
    assert state["step"] == 10
    kept = Translator.load(tmp_path / "run", checkpoint="last").model.state_dict()
    assert all(torch.equal(kept[k], good[k]) for k in good)  # the last good weights, untouched by skipped steps


class _DeviceReads(torch.overrides.TorchFunctionMode):
    """Records every read of a tensor's value on the host (on CUDA each one waits for the GPU)."""

    READS = {"item", "__bool__", "__float__", "__int__", "__index__", "tolist", "numpy"}

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204
        if getattr(func, "__name__", "") in self.READS:
            self.seen.append(func.__name__)
        return func(*args, **(kwargs or {}))


def test_training_step_reads_nothing_back_from_the_device(tmp_path, monkeypatch):
    """A step, a NaN step included, never reads a tensor's value: on a GPU it queues work and goes on."""
    from nmt import trainer as train_module
    from nmt.config import load_config
    from nmt.trainer import Trainer

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(write_synthetic_corpus(tmp_path) + "train:\n  clip_norm: 1.0\n")
    trainer = Trainer(load_config(cfg_path), tmp_path / "run")
    batches = [b for _, b in trainer.epoch_batches(0)][:3]
    real_loss = train_module.batch_loss
    with _DeviceReads() as reads:
        trainer.train_step(batches[:1], batches[0].tgt_tokens)
        before = [p.detach().clone() for p in trainer.model.parameters()]
        monkeypatch.setattr(train_module, "batch_loss", lambda m, b, ls: real_loss(m, b, ls) * float("inf"))
        trainer.train_step(batches[1:2], batches[1].tgt_tokens)
        monkeypatch.setattr(train_module, "batch_loss", real_loss)
    assert reads.seen == []
    assert all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))  # the inf step changed nothing
    assert trainer.skips.read() == (1, 1)
    trainer.train_step(batches[2:3], batches[2].tgt_tokens)
    assert not all(torch.equal(a, b) for a, b in zip(before, trainer.model.parameters()))  # and then it learns
    assert trainer.skips.read()[0] == 0


def test_a_failed_start_leaves_no_run_and_keeps_latest(tmp_path):

    cfg_path = tmp_path / "cfg.yaml"
    cfg_path.write_text(write_synthetic_corpus(tmp_path) + "train:\n  max_steps: 2\n  valid_every: 2\n")
    good = train(cfg_path, overrides=[f"runs_root={tmp_path / 'runs'}"]).run_dir
    (tmp_path / "bad.tsv").write_text("no tab here\n")
    with pytest.raises(NmtError, match="no tab"):
        train(cfg_path, overrides=[f"runs_root={tmp_path / 'runs'}", "name=broken",
                                   "data.train=" + str(tmp_path / "bad.tsv")])
    assert not (tmp_path / "runs" / "broken").exists()
    assert resolve_run(None, str(tmp_path / "runs")) == good  # translate/eval still find the good run


def test_second_signal_stops_at_once():
    with StopSignals() as signals:
        signals._handle(signal.SIGINT, None)
        assert signals.received == signal.SIGINT  # first: stop politely after this step
        with pytest.raises(KeyboardInterrupt):
            signals._handle(signal.SIGINT, None)  # second: now


def test_training_without_clipping_still_measures_the_gradient_norm(tmp_path):
    """clip_norm 0 takes the other path to the norm (get_total_norm), which decides skipped updates."""
    result = train(_config(tmp_path, "train:\n  max_steps: 3\n  valid_every: 3\n  clip_norm: 0\n"),
                   run_dir=tmp_path / "run")
    assert result.steps == 3


def test_schedules_warm_up_then_decay_to_zero_at_the_last_step():
    from nmt.config import TrainConfig
    from nmt.trainer import learning_rate

    for schedule in ("linear", "cosine"):
        t = TrainConfig(lr=1.0, warmup_steps=10, schedule=schedule, max_steps=110)
        assert learning_rate(5, t, 110) == 0.5 and learning_rate(10, t, 110) == 1.0
        assert learning_rate(60, t, 110) == 0.5  # half-way through the decay: both give half
        assert learning_rate(110, t, 110) == 0.0
        assert learning_rate(1000, t, 0) == 1.0  # total not known yet (a time budget before its plan): held
    assert learning_rate(85, TrainConfig(lr=1.0, warmup_steps=10, schedule="linear", max_steps=110), 110) == 0.25
    t = TrainConfig(lr=1.0, warmup_steps=10)
    assert learning_rate(40, t, 110) == 0.5  # inverse_sqrt: sqrt(10 / 40)


def test_keep_last_and_the_averaged_checkpoint_is_the_exact_mean(tmp_path):
    from safetensors.torch import load_file
    from typer.testing import CliRunner

    from nmt.checkpoint import versions
    from nmt.cli import app
    from nmt.run import load_run

    cfg = _config(tmp_path, "train:\n  max_steps: 6\n  save_every: 1\n  keep_last: 3\n  average_last: 3\n")
    run = train(cfg, run_dir=tmp_path / "run").run_dir  # steps 4, 5 and 6 kept (6 written twice: save, validate)
    kept = versions(run / "checkpoints" / "last")
    assert [int(v.name.split(".")[1]) for v in kept] == [4, 5, 6]
    weights = [load_file(str(v / "model.safetensors")) for v in kept]
    averaged = load_file(str(run / "checkpoints" / "averaged" / "model.safetensors"))
    for name, tensor in averaged.items():
        exact = (sum(w[name].double() for w in weights) / 3).float()
        assert torch.equal(tensor, exact), name
    assert load_run(run, "averaged").model is not None  # verified against its manifest like any checkpoint
    result = CliRunner().invoke(app, ["average", str(run), "--last", "2"])
    assert result.exit_code == 0 and json.loads((run / "checkpoints" / "averaged" / "state.json").read_text())[
        "averaged_steps"] == [5, 6]
    result = CliRunner().invoke(app, ["average", str(run), "--last", "4"])
    assert result.exit_code == 2 and "3 `last` checkpoint(s) kept on disk, 4 to average" in result.stderr


def test_a_time_budget_becomes_a_planned_step_count_that_the_schedule_ends_at(tmp_path):
    cfg = _config(tmp_path, "train:\n  max_minutes: 0.15\n  schedule: linear\n  warmup_steps: 5\n  valid_every: 5\n"
                  "  log_every: 1\n  save_every: 1\n  threads: 1\n")
    result = train(cfg, run_dir=tmp_path / "run")
    state = json.loads((tmp_path / "run" / "checkpoints" / "last" / "state.json").read_text())
    assert state["total_steps"] >= 5 and state["validations"] >= 1
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    lr = {r["step"]: r["lr"] for r in records if "lr" in r}
    assert lr[5] == pytest.approx(0.002)  # the tiny preset's peak, at the end of warmup
    if "planned" in result.stopped:  # (a very slow host may hit max_minutes first)
        assert result.steps == state["total_steps"] and lr[result.steps] < 0.002 / state["total_steps"] * 1.01


def test_nmt_train_stays_the_function_after_the_trainer_module_is_imported():
    """`nmt.train(...)` (the README's Python API) is a function however often it is called: the training loop's
    module is `nmt.trainer`, so importing it never replaces the package attribute with a module."""
    import nmt
    import nmt.trainer  # noqa: F401 - what a second call or another import did before

    assert nmt.train is train and callable(nmt.train)


@pytest.mark.parametrize("precision,dtype", [("fp32", torch.float32), ("bf16", torch.bfloat16),
                                             ("auto", torch.float32)])  # auto: fp32 on a CPU
def test_train_precision_sets_the_dtype_of_the_forward_pass(tmp_path, monkeypatch, precision, dtype):
    seen = set()
    real_loss = train_module.batch_loss

    def loss(model, batch, label_smoothing):
        if model.training:
            handle = model.output.register_forward_hook(lambda m, args, out: seen.add(out.dtype))
            try:
                return real_loss(model, batch, label_smoothing)
            finally:
                handle.remove()
        return real_loss(model, batch, label_smoothing)

    monkeypatch.setattr(train_module, "batch_loss", loss)
    train(_config(tmp_path, f"train:\n  max_steps: 2\n  valid_every: 2\n  precision: {precision}\n"),
          run_dir=tmp_path / "run")
    assert seen == {dtype}


class FakeClock:
    """A training clock that moves only by what the test says a step or a validation costs."""

    def __init__(self) -> None:
        self.now = 0.0

    def monotonic(self) -> float:
        return self.now


@pytest.mark.parametrize("before,after", [(1.0, 0.25), (0.25, 1.0)])  # the machine speeds up / slows down
def test_a_time_budget_is_spent_when_the_step_time_changes_mid_run(tmp_path, monkeypatch, before, after):
    """The step count is re-planned at every validation from the rate measured since the last plan: the run
    trains until its budget is spent (within one validation interval), and the schedule still decays smoothly
    to zero at the step where it stops."""
    clock, budget, every, validation = FakeClock(), 120.0, 10, 2.0
    monkeypatch.setattr(train_module, "time", clock)
    real_step, real_scores = train_module.Trainer.train_step, train_module.Trainer.validation_scores

    def step(self, group, tokens):
        clock.now += before if self.state.step < 30 else after
        return real_step(self, group, tokens)

    def scores(self, valid, n):
        clock.now += validation
        return real_scores(self, valid, 20)

    monkeypatch.setattr(train_module.Trainer, "train_step", step)
    monkeypatch.setattr(train_module.Trainer, "validation_scores", scores)
    cfg = _config(tmp_path, f"train:\n  max_minutes: {budget / 60}\n  schedule: cosine\n  warmup_steps: 5\n"
                  f"  valid_every: {every}\n  log_every: 1\n")
    result = train(cfg, run_dir=tmp_path / "run")
    state = json.loads((tmp_path / "run" / "checkpoints" / "last" / "state.json").read_text())
    assert "planned" in result.stopped and result.steps == state["total_steps"]
    assert budget - every * max(before, after) - 2 * validation <= state["elapsed"] <= budget
    records = [json.loads(x) for x in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    lr = [r["lr"] for r in sorted((r for r in records if "lr" in r), key=lambda r: r["step"])]
    decay = lr[5:]  # after warmup: never up, no jump at a re-plan, ends near zero
    assert all(b <= a for a, b in zip(decay, decay[1:]))
    assert max(a - b for a, b in zip(decay, decay[1:])) < 0.002 * 0.1
    assert decay[-1] < 0.002 * 0.01
