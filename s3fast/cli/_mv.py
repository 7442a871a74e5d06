"""``s3fast mv SRC DST``: copy, then delete each source that was copied (run by ``_tree``)."""
from __future__ import annotations

from typing import Any

from . import _tree
from ._options import add_common_options, add_resume_options, add_transfer_options


def register(sub: Any) -> None:
    mv = sub.add_parser("mv")
    mv.add_argument("src")
    mv.add_argument("dst")
    mv.add_argument("--recursive", "-r", action="store_true", help="move every object under a prefix or directory")
    _tree.add_filter_options(mv)
    add_common_options(mv)
    add_transfer_options(mv)
    add_resume_options(mv)
    mv.set_defaults(handler=_tree.main)
