"""fsspec filesystem on s3fast: ``s3fast://bucket/key`` for pandas, pyarrow, Dask, zarr.

Needs the ``fsspec`` extra (``pip install s3fast[fsspec]``); ``import s3fast`` alone never
imports fsspec. Registered for the ``s3fast`` protocol through the ``fsspec.specs`` entry
point; for ``s3://`` URLs register it explicitly::

    fsspec.register_implementation("s3", s3fast.fsspec.S3FastFileSystem, clobber=True)
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._core import S3FastFileSystem

if TYPE_CHECKING:
    from ._file import S3FastFile
    from ._readahead import AdaptiveReadAhead, ReadAheadConfig


def __getattr__(name: str) -> Any:
    # The file classes load with the first file opened, not with the filesystem.
    if name == "S3FastFile":
        from ._file import S3FastFile

        return S3FastFile
    if name in ("AdaptiveReadAhead", "ReadAheadConfig"):
        from . import _readahead

        return getattr(_readahead, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["S3FastFileSystem", "S3FastFile", "AdaptiveReadAhead", "ReadAheadConfig"]
