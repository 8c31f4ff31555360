from __future__ import annotations

from typing import Any

import pytest

from tests.web import probe_routes


@pytest.fixture
def app(app: Any) -> Any:
    """The real app plus the probe routes."""
    app.include_router(probe_routes.router)
    return app
