"""``s3fast rm URL...``: delete objects, 1,000 per request (run by ``_tree``)."""
from __future__ import annotations

from typing import Any

from . import _tree
from ._options import add_common_options


def register(sub: Any) -> None:
    rm = sub.add_parser("rm")
    rm.add_argument("urls", nargs="+", metavar="URL")
    rm.add_argument("--recursive", "-r", action="store_true", help="delete every object under each prefix")
    _tree.add_filter_options(rm, symlinks=False)
    add_common_options(rm)
    rm.set_defaults(handler=_tree.main)
