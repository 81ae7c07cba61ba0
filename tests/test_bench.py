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
