"""Both implementations of a core module, imported directly, whatever mode the run is in.

The suite's pure pass (``S3FAST_NO_EXTENSIONS=1``) only changes which twin ``s3fast._impl``
picks; the compiled modules are still on disk, so parity tests import both and compare
them in one process in either pass. Only a build without the compiled core
(``S3FAST_BUILD_PURE=1``) lacks the native twin, and then the native pass itself fails
loudly (``S3FAST_REQUIRE_EXTENSIONS=1``).
"""
from __future__ import annotations

import importlib
import os
from types import ModuleType

import pytest


def twins(name: str) -> list[ModuleType]:
    """``[pure, native]`` for ``name`` (``"_http"``, ``"_recv"``, ``"_sigv4"``, ``"_files"``)."""
    mods = [importlib.import_module(f"s3fast._py.{name}")]
    try:
        mods.append(importlib.import_module(f"s3fast._native.{name}"))
    except ImportError:
        if os.environ.get("S3FAST_REQUIRE_EXTENSIONS", "") not in ("", "0"):
            raise
    return mods


def params(name: str) -> list[pytest.param]:  # type: ignore[valid-type]
    """``twins(name)`` as pytest params with ids ``pure`` and ``native``."""
    return [pytest.param(m, id="native" if m.__name__.startswith("s3fast._native") else "pure") for m in twins(name)]


def both(name: str) -> tuple[ModuleType, ModuleType]:
    """``(pure, native)``; skips only when the compiled core was never built."""
    mods = twins(name)
    if len(mods) < 2:
        pytest.skip("the compiled core is not built (S3FAST_BUILD_PURE)")
    return mods[0], mods[1]
