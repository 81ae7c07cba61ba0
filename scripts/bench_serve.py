"""Throughput of `nmt serve` against `nmt translate -i` on the same lines, side by side.

Each round (order rotated every round): the CLI translates the file in a fresh process (wall time, start-up and
model loading included; a one-line call is timed too, to show that fixed cost); then a server started once for
the whole benchmark (`nmt serve`, its defaults) gets the same lines as one-line requests from C concurrent
clients (threads with one httpx client each), timed from the first request to the last answer. Every answer must
equal the CLI's line. Figures are medians over the rounds.

    python scripts/bench_serve.py --run runs/multi30k-en-de --rounds 3 --out docs/bench_serve.json
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from benchlib import report  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
NMT = [sys.executable, "-m", "nmt"]


def cli_seconds(run: str, args: list[str]) -> tuple[float, str]:
    start = time.perf_counter()
    done = subprocess.run([*NMT, "translate", "--run", run, "--device", "cpu", *args], capture_output=True, text=True,
                          check=True)
    return time.perf_counter() - start, done.stdout


def serve_seconds(url: str, lines: list[str], clients: int) -> tuple[float, list[str]]:
    """Wall time for ``clients`` threads to translate every line, one line per request; the answers in order."""
    answers: list[str | None] = [None] * len(lines)
    todo = iter(range(len(lines)))
    lock = threading.Lock()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=600) as http:
            while True:
                with lock:
                    i = next(todo, None)
                if i is None:
                    return
                reply = http.post("/translate", json={"text": lines[i]})
                reply.raise_for_status()
                answers[i] = reply.json()["translations"][0]["text"]

    threads = [threading.Thread(target=client) for _ in range(clients)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start, [a or "" for a in answers]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", default="runs/multi30k-en-de")
    parser.add_argument("--input", type=Path, default=ROOT.parent / "shared/data/multi30k/val.en")
    parser.add_argument("--lines", type=int, default=1000)
    parser.add_argument("--clients", type=int, nargs="+", default=[32, 1])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    lines = args.input.read_text(encoding="utf-8").splitlines()[: args.lines]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([*NMT, "serve", "--run", args.run, "--device", "cpu", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times: dict[str, list[float]] = {}
    try:
        for _ in range(600):
            try:
                httpx.get(f"{url}/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.5)
        with tempfile.TemporaryDirectory() as tmp:
            src = Path(tmp) / "in.txt"
            src.write_text("\n".join(lines) + "\n", encoding="utf-8")
            expected = cli_seconds(args.run, ["-i", str(src)])[1].split("\n")[:-1]  # untimed: the reference
            systems = ["cli", "cli-one-line", *[f"serve-{c}-clients" for c in args.clients]]
            for r in range(args.rounds):
                for name in systems[r % len(systems):] + systems[: r % len(systems)]:
                    if name == "cli":
                        seconds, _ = cli_seconds(args.run, ["-i", str(src)])
                    elif name == "cli-one-line":
                        seconds, _ = cli_seconds(args.run, [lines[0]])
                    else:
                        seconds, got = serve_seconds(url, lines, int(name.split("-")[1]))
                        if got != expected:
                            raise SystemExit(f"{name}: answers differ from the CLI's")
                    times.setdefault(name, []).append(seconds)
                    print(name, round(seconds, 2), file=sys.stderr)
                summarize(times, lines, args)  # after every round: a stopped benchmark keeps what it measured
    finally:
        server.terminate()
        server.wait(30)
    summarize(times, lines, args)


def summarize(times: dict[str, list[float]], lines: list[str], args: argparse.Namespace) -> None:
    medians = {name: statistics.median(t) for name, t in times.items()}
    rows = {name: {"seconds_per_round": [round(t, 2) for t in ts], "median_s": round(medians[name], 2),
                   "sentences_per_s": round((1 if name == "cli-one-line" else len(lines)) / medians[name], 1)}
            for name, ts in times.items()}
    ratios = {f"{name}_over_cli": round(medians["cli"] / m, 3) for name, m in medians.items()
              if name.startswith("serve") and "cli" in medians}
    report({"benchmark": "serve", "run": args.run, "lines": len(lines), "input": str(args.input),
            "rounds": args.rounds, "results": rows, **ratios}, args.out)


if __name__ == "__main__":
    main()
