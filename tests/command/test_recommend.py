"""command.recommend's pure parts: how a shortfall is told (over HTTP: tests/web/test_recommendations.py)."""

from __future__ import annotations

from command.recommend import Filled, Need
from gis.schemas import MAX_K, Reach


def test_more_than_one_batch_is_a_stated_limit_not_a_shortage() -> None:
    """A level I plan may ask for 60 fire engines: 50 are proposed at once and the rest say why, not 'none'."""
    need = Need("fire_engine", count=60)
    reach = [
        Reach(i, "fire_engine", f"E{i}", 60.0, 500.0, "road", "at its fix", "fix", 104.0, 30.6, 400.0)
        for i in range(MAX_K)
    ]
    full = Filled(need, units=reach)
    assert (full.unmet, full.cause()) == (10, "limit") and "ask again" in full.detail(60)
    short = Filled(need, units=reach[:20], too_far=3)
    assert (short.unmet, short.cause()) == (40, "too_far")
    assert Filled(Need("boat", count=2)).cause() == "none_available"
    assert Filled(Need("boat", count=2, filled=2)).cause() is None
