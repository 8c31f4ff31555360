"""The soak's printed report (bench/soak.py) and its command line."""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from typing import Any

from bench._common import Others, percentile

CALM_AFTER_S = 5.0  # a fault's window: from the fault to its recovery, and this long after


def windows(result: Any) -> list[tuple[float, float]]:
    return [(at, at + (s if not math.isnan(s) else 60.0) + CALM_AFTER_S) for _, at, s in result.recoveries]


def _calm(t: float, spans: list[tuple[float, float]]) -> bool:
    return not any(a <= t <= b for a, b in spans)


def report(result: Any, config: Any, others: str) -> None:
    spans = windows(result)
    seconds = max(1e-9, result.ended - result.started)
    print(
        f"\nsoak: {seconds / 60:.1f} minutes of load, {config.units} units (a fix every {config.fix_every:g} s), "
        f"{config.screens} screens + {config.crews} crews on websockets, incidents {config.incident_rate:g}/s "
        f"with bursts of {config.burst_rate:g}/s ({config.burst_s:g} s every {config.burst_every:g} s)"
    )
    print(f"machine: {os.cpu_count()} cores; {others}")
    print("phases: " + "; ".join(f"{name} {s:.0f} s" for name, s in result.phases.items()))

    print("\nroutes (calm: outside the fault windows, which run from each fault to its recovery + 5 s)")
    print(
        f"  {'route':<40} {'answers':>8} {'/s':>6} {'not 2xx':>8} {'p50 ms':>8} {'p99 ms':>8} {'p99 all':>8}  not 2xx"
    )
    by_route: dict[str, list[tuple[float, float, int]]] = defaultdict(list)
    for route, at, latency, status in result.calls.rows:
        if result.started <= at <= result.ended:
            by_route[route].append((at, latency, status))
    for route in sorted(by_route, key=lambda r: (r.startswith(("floor", "probe")), r)):
        rows = by_route[route]
        good = [lat * 1000 for at, lat, status in rows if 200 <= status < 300]
        calm = [lat * 1000 for at, lat, status in rows if 200 <= status < 300 and _calm(at, spans)]
        bad = sum(1 for _, _, status in rows if not 200 <= status < 300)
        why = Counter(status for _, _, status in rows if not 200 <= status < 300)
        statuses = ", ".join(f"{status or 'no answer'}×{n}" for status, n in why.most_common(4))
        print(
            f"  {route:<40} {len(good):>8} {len(good) / seconds:>6.1f} {bad:>8} {percentile(calm, 50):>8.1f} "
            f"{percentile(calm, 99):>8.1f} {percentile(good, 99):>8.1f}  {statuses}"
        )

    lags_calm, lags_all = [], []
    for record in result.records:
        for at, lag in zip(record.lag_at, record.lag_s, strict=True):
            lags_all.append(lag * 1000)
            if _calm(at, spans):
                lags_calm.append(lag * 1000)
    print(f"\nwebsocket delivery lag (arrival minus the event's at; a sample of {len(lags_all)} messages)")
    print(
        f"  calm: p50 {percentile(lags_calm, 50):.0f} ms, p99 {percentile(lags_calm, 99):.0f} ms; "
        f"overall: p99 {percentile(lags_all, 99):.0f} ms, max {max(lags_all, default=float('nan')):.0f} ms"
    )

    print(
        "\nrecovery (fault → both workers ready, every client connected, a probe incident seen live, a unit sent and "
        f"its alert received; the probe alone, calm: {result.probe_calm_s:.1f} s)"
    )
    for fault, at, took in result.recoveries:
        print(f"  {fault:<24} at +{at - result.started:6.0f} s   full service after {took:6.1f} s")

    _memory(result)
    _verdict(result)


def _memory(result: Any) -> None:
    samples = result.memory
    if not samples:
        return
    names = list(samples[0][1])
    picks = [samples[min(len(samples) - 1, round(i * (len(samples) - 1) / 6))] for i in range(7)]
    print("\nresident memory, MB (samples across the run; warm-up = the sample a fifth of the way in)")
    print(
        f"  {'process':<20} "
        + " ".join(f"{'+' + str(round(t - result.started)) + 's':>8}" for t, _ in picks)
        + f" {'last/warm':>10}"
    )
    warm = samples[len(samples) // 5][1]
    for name in names:
        values = " ".join(f"{s.get(name, float('nan')):>8.1f}" for _, s in picks)
        growth = samples[-1][1].get(name, float("nan")) / warm.get(name, float("nan"))
        print(f"  {name:<20} {values} {growth:>10.2f}")


def _verdict(result: Any) -> None:
    verdict = result.verdict
    print("\nchecks")
    for name, figures in verdict.figures.items():
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in (figures.items() if isinstance(figures, dict) else [])))
    for name in ("writes", "streams", "deliveries", "sweeps"):
        problems = verdict.failures.get(name, [])
        print(f"  {name:<11} {'PASS' if not problems else f'FAIL ({len(problems)})'}")
        for problem in problems[:10]:
            print(f"      {problem}")


def main(config_type: Any, run: Callable[[Any], Coroutine[Any, Any, Any]], faults: tuple[str, ...]) -> None:
    parser = argparse.ArgumentParser(
        description=sys.modules["__main__"].__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    defaults = config_type()
    parser.add_argument("--minutes", type=float, default=defaults.seconds / 60)
    for name in ("units", "screens", "crews"):
        parser.add_argument(f"--{name}", type=int, default=getattr(defaults, name))
    for name in ("incident_rate", "burst_rate", "burst_every", "burst_s", "fix_every", "note_rate", "ack_deadline_s"):
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=getattr(defaults, name))
    parser.add_argument("--faults", default=",".join(faults), help="comma-separated, in order; '' for none")
    parser.add_argument("--keep-files", action="store_true", help="keep the private cluster's and nginx's files")
    args = parser.parse_args()
    values = {k: v for k, v in vars(args).items() if k not in ("minutes", "faults")}
    config = config_type(seconds=args.minutes * 60, faults=tuple(f for f in args.faults.split(",") if f), **values)
    others = Others()
    started = time.monotonic()
    result: Any = asyncio.run(run(config))
    report(result, config, others.note())
    print(f"\nwall time {time.monotonic() - started:.0f} s")
    sys.exit(0 if result.verdict.ok else 1)
