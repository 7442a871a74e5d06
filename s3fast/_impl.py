"""One switch between the compiled core and its pure-Python twins.

``S3FAST_NO_EXTENSIONS=1`` forces pure Python. Otherwise the compiled modules are used
when they were built; ``S3FAST_REQUIRE_EXTENSIONS=1`` turns a missing build into an
import error instead of a silent fallback (the test suite's native mode sets it, so a
broken build cannot pass as "native").
"""
from __future__ import annotations

import os

NO_EXTENSIONS = os.environ.get("S3FAST_NO_EXTENSIONS", "") not in ("", "0")
_REQUIRE = os.environ.get("S3FAST_REQUIRE_EXTENSIONS", "") not in ("", "0")

NATIVE = False
if not NO_EXTENSIONS:
    try:
        from ._native import _files as files_impl
        from ._native import _http as http_impl
        from ._native import _recv as recv_impl
        from ._native import _sched as sched_impl
        from ._native import _sigv4 as sigv4_impl

        NATIVE = True
    except ImportError:
        if _REQUIRE:
            raise
if not NATIVE:
    # The pure twins are typed like the compiled modules' .pyi; mypy still sees a second binding.
    from ._py import _files as files_impl  # type: ignore[no-redef]
    from ._py import _http as http_impl  # type: ignore[no-redef]
    from ._py import _recv as recv_impl  # type: ignore[no-redef]
    from ._py import _sched as sched_impl  # type: ignore[no-redef]
    from ._py import _sigv4 as sigv4_impl  # type: ignore[no-redef]

#: "native" or "pure": what ``s3fast --version`` reports.
MODE = "native" if NATIVE else "pure"

__all__ = ["NATIVE", "MODE", "NO_EXTENSIONS", "files_impl", "http_impl", "recv_impl", "sched_impl",
           "sigv4_impl"]
