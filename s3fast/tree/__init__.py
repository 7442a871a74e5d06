"""Many objects at once: recursive copies, sync, bulk deletes, moves (see ``_ops``)."""
from __future__ import annotations

from ._decide import COMPARES, Entry
from ._match import Filters
from ._ops import TreeResult, copy_tree, delete_many, delete_tree, move_tree, sync

__all__ = ["COMPARES", "Entry", "Filters", "TreeResult", "copy_tree", "delete_many", "delete_tree", "move_tree",
           "sync"]
