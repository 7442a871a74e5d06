"""Pure translations at the fsspec boundary: storage options to client arguments, fsspec
paths to S3 URLs, s3fast errors to the ``OSError`` family fsspec callers catch."""
from __future__ import annotations

import dataclasses
import datetime
import errno
from collections.abc import Callable
from email.utils import parsedate_to_datetime
from typing import Any

from fsspec.callbacks import DEFAULT_CALLBACK

from .._config import TransferConfig
from .._errors import AccessDenied, NoSuchBucket, NoSuchKey, PreconditionFailed, S3Error, S3FastError
from .._units import parse_size

#: Client keyword arguments passed through under their own names.
_CLIENT_KEYS = ("endpoint_url", "region", "profile", "anonymous", "addressing_style", "ca_bundle",
                "verify", "resolve", "aws_access_key_id", "aws_secret_access_key", "aws_session_token")
#: s3fs's names for the same things, so an ``s3://`` URL's storage options carry over.
_ALIASES = {"key": "aws_access_key_id", "secret": "aws_secret_access_key", "token": "aws_session_token",
            "anon": "anonymous", "region_name": "region"}
#: TransferConfig fields settable as storage options.
_CONFIG_KEYS = ("target_gbps", "max_gbps", "memory_limit", "part_size", "max_concurrency")
_SIZE_KEYS = ("memory_limit", "part_size")
#: Client switches; as strings (an environment variable, a config file) only these spellings
_SWITCH_KEYS = ("anonymous", "verify")
_TRUE, _FALSE = ("true", "1", "yes", "on"), ("false", "0", "no", "off")


def _switch(key: str, value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    # a bare truthiness test would read "False" as True: anonymous, unsigned requests
    raise TypeError(f"s3fast filesystem: {key} must be true or false, got {value!r}")


def client_kwargs(options: dict[str, Any]) -> dict[str, Any]:
    """``s3fast.Client(**client_kwargs(storage_options))``; unknown options are an error
    here rather than silently ignored (a typo in ``endpoint_url`` would send a pipeline to AWS)."""
    opts = dict(options)
    # s3fs nests endpoint and region in client_kwargs; accept that shape too.
    nested = opts.pop("client_kwargs", None) or {}
    for k, v in nested.items():
        opts.setdefault(k, v)
    out: dict[str, Any] = {}
    config: TransferConfig | None = opts.pop("config", None)
    changes: dict[str, Any] = {}
    for key, value in opts.items():
        name = _ALIASES.get(key, key)
        if name in _CLIENT_KEYS:
            if value is not None:
                out[name] = _switch(key, value) if name in _SWITCH_KEYS else value
        elif name in _CONFIG_KEYS:
            if value is not None:
                changes[name] = parse_size(value) if name in _SIZE_KEYS and isinstance(value, str) else value
        else:
            raise TypeError(f"s3fast filesystem: unknown storage option {key!r}")
    if "endpoint_url" in out and not isinstance(out["endpoint_url"], str):
        raise TypeError("s3fast filesystem: endpoint_url must be a string")
    if "resolve" in out and not isinstance(out["resolve"], dict):
        raise TypeError("s3fast filesystem: resolve must be a dict of host name -> list of IP addresses")
    if changes:
        config = dataclasses.replace(config or TransferConfig(), **changes)
    if config is not None:
        out["config"] = config
    return out


def upload_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The upload arguments in a write's keyword arguments (s3fs's ``ContentType`` and
    ``Metadata``, or the client's names); others are ignored, as s3fs ignores what S3
    would not take."""
    out: dict[str, Any] = {}
    ct = kwargs.get("ContentType") or kwargs.get("content_type")
    if ct:
        out["content_type"] = ct
    meta = kwargs.get("Metadata") or kwargs.get("metadata")
    if meta:
        out["metadata"] = dict(meta)
    return out


def check_write_mode(what: str, mode: str) -> None:
    """A write's ``mode``: "overwrite", or "create" (refused by S3 when the key exists)."""
    if mode not in ("overwrite", "create"):
        raise ValueError(f"s3fast filesystem: {what} mode must be 'overwrite' or 'create', got {mode!r}")


def wants_progress(callback: Any) -> bool:
    """Whether an fsspec ``callback`` is a real one (not fsspec's default no-op)."""
    return callback is not None and callback is not DEFAULT_CALLBACK


def progress_to(callback: Any) -> list[Callable[[object], None]]:
    """An fsspec ``callback`` (``set_size``, ``relative_update``: a progress bar) as a
    subscriber of one transfer's events: the size when the transfer states it, then the
    bytes as they move. None for no callback."""
    if not wants_progress(callback):
        return []
    from .._events import BytesMoved, TransferStarted

    def on(event: object) -> None:
        if type(event) is BytesMoved:
            callback.relative_update(event.n)
        elif type(event) is TransferStarted and event.size is not None:
            callback.set_size(event.size)
            if event.skipped_bytes:
                callback.relative_update(event.skipped_bytes)

    return [on]


def split_path(path: str) -> tuple[str, str]:
    """``"bucket/a/b"`` -> ``("bucket", "a/b")``; ``"bucket"`` -> ``("bucket", "")``."""
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def s3_url(bucket: str, key: str = "") -> str:
    return f"s3://{bucket}/{key}"


def when(text: str | None) -> datetime.datetime | None:
    """An S3 time as an aware datetime, as s3fs gives it: a listing says ISO 8601
    (``2026-12-04T17:48:32.186Z``), a HEAD an HTTP date; None when absent or unreadable."""
    if not text:
        return None
    try:
        if text[:1].isdigit():
            return datetime.datetime.fromisoformat(text)
        return parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None


def translate(exc: BaseException, path: str) -> BaseException:
    """The error fsspec callers expect for ``exc`` (``FileNotFoundError`` for a missing key
    or bucket, ``PermissionError`` for 403...); anything else passes through unchanged."""
    if isinstance(exc, (NoSuchKey, NoSuchBucket)) or (isinstance(exc, S3Error) and exc.status == 404):
        err: BaseException = FileNotFoundError(errno.ENOENT, "No such file or directory", path)
    elif isinstance(exc, AccessDenied) or (isinstance(exc, S3Error) and exc.status == 403):
        err = PermissionError(errno.EACCES, str(exc), path)
    elif isinstance(exc, PreconditionFailed):
        # the ETag seen at open no longer matches: the object was replaced while being read
        err = OSError(errno.ESTALE, "object changed while it was being read", path)
    elif isinstance(exc, S3FastError) and not isinstance(exc, OSError):
        err = OSError(errno.EIO, str(exc), path)
    else:
        return exc
    err.__cause__ = exc
    return err
