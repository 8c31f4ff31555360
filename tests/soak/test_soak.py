"""The soak as a test of correctness (bench/soak.py, scaled down): the deployment we recommend (deploy/run: nginx
with TLS, two workers, a scheduler) on a private PostgreSQL cluster and a private Redis, under load for about two
minutes with every fault — Redis restarted, a worker SIGKILLed, PostgreSQL restarted, the scheduler SIGKILLed — and
then: no answered write lost or doubled, every websocket client saw its scope exactly once and in order across its
reconnections, every webhook delivery received, no sweep acted twice. No timing is asserted (bench/soak.py prints
the figures)."""

from __future__ import annotations

import math

import pytest

from bench.soak import FAULTS, Config, run_soak

SMALL = Config(
    seconds=100,  # of load; with start-up, set-up and the checks under three minutes on two cores
    units=24,
    screens=27,  # three of each of the nine screens' filters (bench/soak.py ``scopes``)
    crews=6,
    incident_rate=1.0,
    burst_rate=6.0,
    burst_every=40.0,
    burst_s=3.0,
    fix_every=6.0,
    note_rate=0.5,
)


@pytest.mark.timeout(600)
async def test_a_soak_with_every_fault_loses_nothing_repeats_nothing_and_keeps_order() -> None:
    result = await run_soak(SMALL)
    verdict = result.verdict
    assert verdict.ok, "\n".join(f"{name}: {p}" for name, problems in verdict.failures.items() for p in problems[:20])

    # The faults happened and the service came back from each (the probe incident seen live, its alert delivered).
    assert [fault for fault, _, _ in result.recoveries] == list(FAULTS)
    assert all(not math.isnan(took) for _, _, took in result.recoveries), result.recoveries
    restarts = verdict.figures["restarts"]
    assert (
        restarts.get("scheduler", 0) >= 1 and sum(n for name, n in restarts.items() if name.startswith("worker")) >= 1
    )

    # What the checks looked at is not nothing: writes of every kind answered, clients that reconnected (the
    # killed worker's), escalations by the sweep, deliveries refused once by the receiver and retried.
    writes = verdict.figures["writes"]
    assert all(
        writes[kind] > 0 for kind in ("incidents answered", "notes", "fixes", "dispatches", "acks", "activations")
    )
    streams = verdict.figures["streams"]
    assert streams["clients"] == SMALL.screens + SMALL.crews and streams["reconnections"] > 0
    assert verdict.figures["sweeps"]["escalations"] > 0 and verdict.figures["sweeps"]["re-alerts"] > 0
    deliveries = verdict.figures["deliveries"]
    assert deliveries["first try refused by the receiver"] > 0 and deliveries["webhook deliveries"] > 0
