"""Classification + fact extraction + grading in-process over the labelled corpus: latency per report.

    .venv/bin/python bench/classify.py [--passes 5]

No database, no HTTP: this is the pure core behind POST /api/v1/classify. Target: p50 under 2 ms per report.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from incidents.service import classify_report  # noqa: E402  (the path above makes the checkout importable)

CORPUS = ROOT / "tests" / "incidents" / "corpus.jsonl"


def _nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, min(len(ordered) - 1, round(q / 100 * len(ordered)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=5, help="timed passes over the corpus after one warm-up pass")
    args = parser.parse_args()
    texts = [json.loads(line)["text"] for line in CORPUS.read_text("utf-8").splitlines() if line]
    for text in texts:  # warm-up: first-use costs (regex caches, pydantic validators) are not what we measure
        classify_report(text)
    timings: list[float] = []
    for _ in range(args.passes):
        for text in texts:
            started = time.perf_counter()
            classify_report(text)
            timings.append((time.perf_counter() - started) * 1000)
    chars = statistics.mean(len(t) for t in texts)
    print(f"classify_report over {len(texts)} reports (mean {chars:.0f} chars) x {args.passes} warm passes")
    print(f"  p50  {_nearest_rank(timings, 50):.3f} ms")
    print(f"  p99  {_nearest_rank(timings, 99):.3f} ms")
    print(f"  mean {statistics.mean(timings):.3f} ms   max {max(timings):.3f} ms")


if __name__ == "__main__":
    main()
