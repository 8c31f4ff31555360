"""``commandpost_deliveries{state, channel}`` in ``GET /metrics``: counted from the delivery table when scraped (a
scrape hook), parsed with prometheus-client's own parser, and following the table as deliveries change state."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

GAUGE = "commandpost_deliveries"
ADD = text("""
INSERT INTO delivery (kind, channel, address, subject, body, state, max_tries, next_attempt_at)
SELECT 'bench.test', :channel, 'x', 's', 'b', :state, 3, now() FROM generate_series(1, :n)
""")


async def _deliveries(client: httpx.AsyncClient) -> dict[tuple[str, str], float]:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    found = {}
    for family in text_string_to_metric_families(response.text):
        if family.name == GAUGE:
            assert family.type == "gauge"
            found |= {(s.labels["state"], s.labels["channel"]): s.value for s in family.samples}
    return found


async def test_delivery_states_are_counted_at_each_scrape(client: httpx.AsyncClient, session: AsyncSession) -> None:
    before = await _deliveries(client)
    # Every state and channel is a series from the first scrape, zeros included.
    assert {("queued", "sms"), ("sent", "webhook"), ("dead", "none"), ("cancelled", "push")} <= set(before)
    for channel, state, n in (("sms", "dead", 3), ("sms", "queued", 2), ("webhook", "failed", 4), ("email", "sent", 5)):
        await session.execute(ADD, {"channel": channel, "state": state, "n": n})
    await session.commit()
    after = await _deliveries(client)
    grew = {key: after[key] - before.get(key, 0) for key in after if after[key] != before.get(key, 0)}
    assert grew == {("dead", "sms"): 3, ("queued", "sms"): 2, ("failed", "webhook"): 4, ("sent", "email"): 5}

    # The queued ones are sent: the gauge follows the table down as well as up.
    await session.execute(text("UPDATE delivery SET state = 'sent' WHERE kind = 'bench.test' AND state = 'queued'"))
    await session.commit()
    later = await _deliveries(client)
    assert later[("queued", "sms")] == before.get(("queued", "sms"), 0)
    assert later[("sent", "sms")] - before.get(("sent", "sms"), 0) == 2
