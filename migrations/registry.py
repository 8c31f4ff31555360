"""Every module that defines tables: imported by env.py (and the schema test) so Base.metadata is complete.

Add a package's models module here when it gains tables.
"""

from __future__ import annotations

import importlib

from sqlalchemy import MetaData

MODEL_MODULES = [
    "core.events",
    "core.users",
    "core.audit",
    "gis.models",
    "incidents.models",
    "plans.models",
    "command.models",
    "gis.roads.road_models",
]


def load_metadata() -> MetaData:
    """Import every model module and return the shared metadata."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    from core.db import Base

    return Base.metadata
