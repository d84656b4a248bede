"""Import every feature's tables so ``Base.metadata`` is complete (Alembic and test set-up use it)."""

from __future__ import annotations

import importlib
import pkgutil

import smart365
from smart365.core.db import Base


def load_all_models() -> type[Base]:
    """Import ``smart365.<feature>.models`` for every feature that has one, and return ``Base``."""
    for core_tables in ("accounts", "audit", "api_keys"):
        importlib.import_module(f"smart365.core.{core_tables}")
    for module in pkgutil.iter_modules(smart365.__path__):
        spec = f"smart365.{module.name}.models"
        if module.ispkg and module.name != "core" and importlib.util.find_spec(spec):
            importlib.import_module(spec)
    return Base
