"""The benchmark scripts' bookkeeping: decoding systems are compared at their best thread count."""

import importlib.util
import sys
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


def _bench_decode():
    sys.path.insert(0, str(SCRIPTS))  # the script imports its sibling benchlib
    try:
        spec = importlib.util.spec_from_file_location("bench_decode", SCRIPTS / "bench_decode.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPTS))


def test_each_system_is_taken_at_its_fastest_thread_count():
    bench = _bench_decode()
    by_threads = {
        "1": {"forced_length": {"nmt": {"beam1": {"sentences_per_s": 223.0}},
                                "ctranslate2-float32": {"beam1": {"sentences_per_s": 317.0}}}},
        "2": {"forced_length": {"nmt": {"beam1": {"sentences_per_s": 402.0}},
                                "ctranslate2-float32": {"beam1": {"sentences_per_s": 177.0}}}},
    }
    best = bench._best_threads(by_threads, "forced_length")
    assert best["nmt"]["beam1"] == {"sentences_per_s": 402.0, "threads": 2}
    assert best["ctranslate2-float32"]["beam1"] == {"sentences_per_s": 317.0, "threads": 1}
    best["nmt"]["beam5"] = {"sentences_per_s": 1.0}
    best["ctranslate2-float32"]["beam5"] = {"sentences_per_s": 1.0}
    assert bench.ratios(best)["nmt/ctranslate2-float32 beam1"] == round(402 / 317, 3)  # best with best


def test_bench_gpu_runs_on_the_cpu_with_tiny_settings(tmp_path):
    """scripts/bench_gpu.py is for a GPU; with tiny settings it runs on the CPU, so it is ready when a GPU is."""
    import json
    import subprocess

    from tests.conftest import write_synthetic_corpus

    cfg = tmp_path / "cfg.yaml"
    cfg.write_text(write_synthetic_corpus(tmp_path) + "model:\n  max_positions: 24\n", encoding="utf-8")
    out = tmp_path / "gpu.json"
    done = subprocess.run([sys.executable, str(SCRIPTS / "bench_gpu.py"), str(cfg), "--batches", "3",
                           "--decode-lines", "8", "--set", "train.pad_to_multiple=8", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(out.read_text())
    training = result["training"]
    assert result["device"] == "cpu" and training["batches"] == 3 and training["warm_tokens_per_s"] > 0
    assert 0 < training["mfu"] < 1 and training["distinct_shapes"] <= 3
    assert {"beam1-fp32", "beam5-fp32", "beam1-bf16", "beam5-bf16"} <= set(result["decoding"])
    assert result["decoding"]["sentences"] == 8
