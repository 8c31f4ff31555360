"""The soak's verdict (bench/soak.py), read from the private database once the load has stopped:

- every answered write is in the database exactly once (incidents and notes by the key each carried, fixes,
  dispatches, acknowledgements and activations by the id answered), with its event exactly once;
- every websocket client saw every event of its scope exactly once and in order, across its reconnections: the
  scope computed here by the service's own rules (notify's ``EventFilter`` and ``UnitView`` for the command room,
  command's ``field_filter`` for a crew) over the event table, from the id of the client's first ready frame;
- every webhook delivery reached the receiver (at least once; the receiver keeps them by delivery id);
- no sweep acted twice: at most one re-alert and one escalation per dispatch, in events, timeline and deliveries.

Each check gives a list of failures (empty: it holds) and the figures it counted."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from bench._soak_load import Calls
from bench._soak_streams import Record, Scope
from command.service import field_filter
from core.events import EventEnvelope
from notify.schemas import EventFilter
from notify.service import UnitView


@dataclass
class Verdict:
    failures: dict[str, list[str]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def fail(self, check: str, what: str) -> None:
        self.failures.setdefault(check, []).append(what)

    @property
    def ok(self) -> bool:
        return not any(self.failures.values())


async def events(conn: asyncpg.Connection, up_to: int) -> list[EventEnvelope]:
    rows = await conn.fetch(
        "SELECT id, type, data::text AS data, incident_id, unit_id, created_at FROM event WHERE id <= $1 ORDER BY id",
        up_to,
    )
    return [
        EventEnvelope(
            id=r["id"],
            type=r["type"],
            at=r["created_at"],
            data=json.loads(r["data"]),
            incident_id=r["incident_id"],
            unit_id=r["unit_id"],
        )
        for r in rows
    ]


def command_scope(scope: Scope, all_events: list[EventEnvelope]) -> tuple[list[int], set[int]]:
    """The ids a ``/ws/command`` client with this scope must get, and those it may get as ``unit.left_view`` (a
    unit event outside its bbox: the first after each connection says the unit left, later ones are dropped)."""
    prefixes = tuple(p for p in (scope.types or "").split(",") if p)
    accepts = EventFilter(type_prefixes=prefixes, bbox=scope.bbox).accepts
    required: list[int] = []
    optional: set[int] = set()
    view = UnitView(scope.bbox) if scope.bbox is not None else None
    for envelope in all_events:
        if not accepts(envelope):
            continue
        if view is not None:
            view.told_gone.clear()  # judged as a fresh connection would: "left" for any unit event outside the view
            if view.judge(envelope) == "left":
                optional.add(envelope.id)
                continue
        required.append(envelope.id)
    return required, optional


def field_scope(unit_id: int, all_events: list[EventEnvelope]) -> list[int]:
    """The ids a crew's ``/ws/field`` stream must get, judged in id order from the first event on (a dispatch joins
    the unit to its incident's later events)."""
    rule = field_filter(unit_id)
    return [e.id for e in all_events if rule.accepts(e)]


def check_client(record: Record, required: list[int], optional: set[int], up_to: int) -> list[str]:
    """What is wrong with what one client received (nothing: it saw its scope exactly once, in order)."""
    if record.start is None:
        return ["never got its ready frame"]
    got = [i for i in record.ids if abs(i) <= up_to]
    problems = []
    out_of_order = sum(1 for a, b in zip(got, got[1:], strict=False) if abs(b) <= abs(a))
    if out_of_order:
        problems.append(f"{out_of_order} ids not after the one before (a repeat or out of order)")
    received = {i for i in got if i > 0}
    left = {-i for i in got if i < 0}
    wanted = {i for i in required if record.start < i <= up_to}
    if missing := sorted(wanted - received):
        problems.append(f"{len(missing)} events missed, first {missing[:5]}")
    if extra := sorted(received - wanted):
        problems.append(f"{len(extra)} events outside its scope, first {extra[:5]}")
    if wrong_left := sorted(left - optional):
        problems.append(f"{len(wrong_left)} unit.left_view for events that did not leave its view: {wrong_left[:5]}")
    return problems


def expectations(records: list[Record], all_events: list[EventEnvelope]) -> list[tuple[list[int], set[int]]]:
    """For each client, the ids it must get and those it may get as ``unit.left_view`` (computed once per scope)."""
    scopes: dict[Scope, tuple[list[int], set[int]]] = {}
    units: dict[int, list[int]] = {}
    found: list[tuple[list[int], set[int]]] = []
    for record in records:
        if record.scope.path == "/ws/field":
            assert record.unit_id is not None
            if record.unit_id not in units:
                units[record.unit_id] = field_scope(record.unit_id, all_events)
            found.append((units[record.unit_id], set()))
        else:
            if record.scope not in scopes:
                scopes[record.scope] = command_scope(record.scope, all_events)
            found.append(scopes[record.scope])
    return found


def behind(records: list[Record], expected: list[tuple[list[int], set[int]]], up_to: int) -> int:
    """How many clients have not yet received the last event of their scope up to ``up_to``."""
    late = 0
    for record, (required, _) in zip(records, expected, strict=True):
        last = next((i for i in reversed(required) if i <= up_to), 0)
        if record.start is None or (last > record.start and record.last < last):
            late += 1
    return late


def check_streams(
    records: list[Record], expected: list[tuple[list[int], set[int]]], up_to: int, n_events: int, verdict: Verdict
) -> None:
    delivered = 0
    for n, (record, (required, optional)) in enumerate(zip(records, expected, strict=True)):
        for problem in check_client(record, required, optional, up_to):
            verdict.fail("streams", f"client {n} ({record.scope.path} {record.scope.query()}): {problem}")
        delivered += sum(1 for i in record.ids if abs(i) <= up_to)
    verdict.figures["streams"] = {
        "clients": len(records),
        "events": n_events,
        "messages received": delivered,
        "reconnections": sum(r.connects - 1 for r in records),
        "close codes": dict(sum((r.closes for r in records), Counter())),
    }


async def check_writes(conn: asyncpg.Connection, calls: Calls, verdict: Verdict) -> None:
    """Every answered write exactly once, with its event exactly once; an unanswered one at most once."""
    written = await _check_incidents(conn, calls, verdict)
    await _check_notes(conn, calls, verdict)
    for table, ids, what in (
        ("unit_fix", calls.fixes, "fix"),
        ("dispatch", calls.dispatches, "dispatch"),
        ("plan_activation", calls.activations, "activation"),
    ):
        rows = await conn.fetch(f"SELECT id FROM {table} WHERE id = ANY($1::bigint[])", ids)  # noqa: S608
        found = Counter(r["id"] for r in rows)
        for missing in [i for i in ids if found[i] != 1][:10]:
            verdict.fail("writes", f"answered {what} {missing} is in the database {found[missing]} times")
    await _check_dispatches(conn, calls, verdict)
    verdict.figures["writes"] = {
        "incidents answered": len(calls.incidents),
        "incident keys tried": len(calls.incident_keys),
        "incidents written, answer lost": len(written & calls.incident_keys - set(calls.incidents)),
        "notes": len(calls.notes),
        "fixes": len(calls.fixes),
        "dispatches": len(calls.dispatches),
        "acks": len(calls.acks),
        "activations": len(calls.activations),
    }


async def _check_incidents(conn: asyncpg.Connection, calls: Calls, verdict: Verdict) -> set[str]:
    """Each incident key at most once in the database, an answered one as answered, with one ``incident.created``;
    the keys written."""
    keyed = await conn.fetch(r"SELECT id, substring(description from '\[(soak-[^\]]+)\]') AS key FROM incident")
    by_key = Counter(r["key"] for r in keyed if r["key"])
    id_of = {r["key"]: r["id"] for r in keyed if r["key"]}
    for key, count in by_key.items():
        if count > 1:
            verdict.fail("writes", f"incident {key} is in the database {count} times")
    rows = await conn.fetch("SELECT incident_id FROM event WHERE type = 'incident.created'")
    created = Counter(r["incident_id"] for r in rows)
    for key, incident_id in calls.incidents.items():
        if id_of.get(key) != incident_id or created[incident_id] != 1:
            verdict.fail(
                "writes",
                f"answered incident {key} (id {incident_id}): in the database as {id_of.get(key)}, "
                f"{created[incident_id]} incident.created events",
            )
    return set(id_of)


async def _check_notes(conn: asyncpg.Connection, calls: Calls, verdict: Verdict) -> None:
    notes = await conn.fetch(
        r"SELECT id, substring(data->>'text' from '\[(note-[^\]]+)\]') AS key FROM incident_timeline"
        " WHERE kind = 'note'"
    )
    note_keys = Counter(r["key"] for r in notes if r["key"])
    note_of = {r["key"]: r["id"] for r in notes if r["key"]}
    rows = await conn.fetch("SELECT (data->'note'->>'id')::bigint AS id FROM event WHERE type = 'incident.note'")
    note_events = Counter(r["id"] for r in rows)
    for key, count in note_keys.items():
        if count > 1:
            verdict.fail("writes", f"note {key} is in the database {count} times")
    for key, note_id in calls.notes.items():
        if note_keys[key] != 1 or note_of.get(key) != note_id or note_events[note_id] != 1:
            verdict.fail("writes", f"note {key}: {note_keys[key]} rows, {note_events[note_id]} events")


async def _check_dispatches(conn: asyncpg.Connection, calls: Calls, verdict: Verdict) -> None:
    """One ``dispatch.created`` per dispatch answered; an answered acknowledgement recorded, with one event."""
    rows = await conn.fetch(
        "SELECT type, (data->>'id')::bigint AS id FROM event"
        " WHERE type IN ('dispatch.created', 'dispatch.acknowledged')"
    )
    events_of = Counter((r["type"], r["id"]) for r in rows)
    for dispatch_id in calls.dispatches:
        if (n := events_of["dispatch.created", dispatch_id]) != 1:
            verdict.fail("writes", f"dispatch {dispatch_id}: {n} dispatch.created events")
    unacked = await conn.fetch(
        "SELECT id FROM dispatch WHERE id = ANY($1::bigint[]) AND acknowledged_at IS NULL", calls.acks
    )
    for row in unacked:
        verdict.fail("writes", f"dispatch {row['id']}: acknowledgement answered 200 but not recorded")
    for dispatch_id in calls.acks:
        if (n := events_of["dispatch.acknowledged", dispatch_id]) != 1:
            verdict.fail("writes", f"dispatch {dispatch_id}: {n} dispatch.acknowledged events")


async def check_sweeps(conn: asyncpg.Connection, verdict: Verdict) -> None:
    """No sweep acted twice on a dispatch: one re-alert and one escalation at most, in events, timeline entries
    and the commanders' deliveries."""
    twice = await conn.fetch(
        """SELECT type, data->>'id' AS id, count(*) AS n FROM event
           WHERE type IN ('dispatch.warning', 'dispatch.escalated') GROUP BY 1, 2 HAVING count(*) > 1"""
    )
    twice += await conn.fetch(
        """SELECT kind AS type, data->>'dispatch_id' AS id, count(*) AS n FROM incident_timeline
           WHERE kind IN ('dispatch_realerted', 'dispatch_escalated') GROUP BY 1, 2 HAVING count(*) > 1"""
    )
    twice += await conn.fetch(
        """SELECT kind || ' to contact ' || contact_id AS type, dispatch_id::text AS id, count(*) AS n FROM delivery
           WHERE kind = 'dispatch.escalated' GROUP BY kind, contact_id, dispatch_id HAVING count(*) > 1"""
    )
    for row in twice:
        verdict.fail("sweeps", f"{row['type']} for dispatch {row['id']}: {row['n']} times")
    counts = dict(
        await conn.fetch(
            "SELECT type, count(*) FROM event WHERE type IN ('dispatch.warning', 'dispatch.escalated') GROUP BY type"
        )
    )
    verdict.figures["sweeps"] = {
        "re-alerts": counts.get("dispatch.warning", 0),
        "escalations": counts.get("dispatch.escalated", 0),
    }


async def check_deliveries(
    conn: asyncpg.Connection, cutoff: int, seen: Counter[int], failed: set[int], verdict: Verdict
) -> None:
    """Every webhook delivery made up to ``cutoff`` (its id) sent and received (at least once; counted once by its
    id)."""
    rows = await conn.fetch("SELECT id, state, tries FROM delivery WHERE channel = 'webhook' AND id <= $1", cutoff)
    for row in rows:
        if row["state"] != "sent" or row["id"] not in seen:
            verdict.fail(
                "deliveries",
                f"delivery {row['id']}: {row['state']} after {row['tries']} tries, received {seen[row['id']]}",
            )
    verdict.figures["deliveries"] = {
        "webhook deliveries": len(rows),
        "received (distinct ids)": len([i for i in seen if i <= cutoff]),
        "received more than once": sum(1 for n in seen.values() if n > 1),
        "first try refused by the receiver": len(failed),
        "by state": dict(Counter(r["state"] for r in rows)),
    }
