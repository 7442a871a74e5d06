"""``s3fast sync SRC DST``: transfer what DST lacks or holds differently (run by ``_tree``)."""
from __future__ import annotations

from typing import Any

from . import _tree
from ._options import add_common_options, add_resume_options, add_transfer_options


def register(sub: Any) -> None:
    sync = sub.add_parser("sync",
                          description="Transfer what DST lacks or holds differently (size, newer mtime, or "
                                      "--checksum); local <-> S3 or S3 -> S3.")
    sync.add_argument("src")
    sync.add_argument("dst")
    compare = sync.add_mutually_exclusive_group()  # one comparison: both named is a usage error
    compare.add_argument("--size-only", action="store_true", help="compare sizes only")
    compare.add_argument("--checksum", dest="compare_checksum", action="store_true",
                      help="compare contents instead of mtimes: the local MD5 against a single-part "
                           "ETag, else the full-object CRC64NVME/CRC32C S3 stores")
    sync.add_argument("--delete", action="store_true", help="delete what DST has and SRC does not")
    _tree.add_filter_options(sync, raw=False)
    add_common_options(sync)
    add_transfer_options(sync, upload_options=False)
    add_resume_options(sync)
    sync.set_defaults(handler=_tree.main)
