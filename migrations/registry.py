"""Every module that defines tables: imported by env.py (and the schema test) so Base.metadata is complete.

Add a package's models module here when it gains tables.
"""

from __future__ import annotations

import importlib
import re
from typing import Any

from geoalchemy2 import alembic_helpers
from sqlalchemy import MetaData

MODEL_MODULES = [
    "core.events",
    "core.users",
    "core.refresh",
    "core.replies",
    "core.audit",
    "gis.models",
    "incidents.models",
    "incidents.warning_models",
    "incidents.photo_models",
    "plans.models",
    "command.models",
    "gis.roads.road_models",
    "gis.places.models",
    "notify.models",
]


def load_metadata() -> MetaData:
    """Import every model module and return the shared metadata."""
    for name in MODEL_MODULES:
        importlib.import_module(name)
    from core.db import Base

    return Base.metadata


# Partitions are made by the application (command.fix_partitions), not by models: autogenerate must not see them.
PARTITION_NAME = re.compile(r"unit_fix_(?:default|p\d{8})")


def include_object(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    """geoalchemy2's filter, and no table that is a partition (nor its indexes)."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    if table is not None and PARTITION_NAME.fullmatch(table):
        return False
    return bool(alembic_helpers.include_object(obj, name, type_, reflected, compare_to))
