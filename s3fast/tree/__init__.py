"""Many objects at once: recursive copies, sync, bulk deletes, moves (see ``_ops``)."""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._decide import COMPARES, Entry
    from ._match import Filters
    from ._ops import TreeResult, copy_tree, delete_many, delete_tree, move_tree, sync

# Loaded on first access (PEP 562): the command line's pure helpers (``_match``, ``_cpus``)
# are imported at start-up, and importing them must not load the engine through this package.
_LAZY = {"COMPARES": "._decide", "Entry": "._decide", "Filters": "._match",
         **{name: "._ops" for name in ("TreeResult", "copy_tree", "delete_many", "delete_tree", "move_tree", "sync")}}


def __getattr__(name: str) -> Any:
    where = _LAZY.get(name)
    if where is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(where, __name__), name)
    globals()[name] = value
    return value


__all__ = ["COMPARES", "Entry", "Filters", "TreeResult", "copy_tree", "delete_many", "delete_tree", "move_tree",
           "sync"]
