"""Bulk deletes: DeleteObjects batches of up to 1,000 keys, each key's error reported."""
from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Sequence

from .._errors import S3Error
from .._transport import Request, Transport
from ..transfer._xml import BadAnswer, delete_body, parse_delete

#: S3's limit of keys per DeleteObjects request
MAX_BATCH = 1000


#: characters XML 1.0 cannot carry, even as a character reference (C0 controls but tab,
#: newline and carriage return; U+FFFE, U+FFFF): a key holding one has no DeleteObjects form
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


async def delete_batch(transport: Transport, bucket: str, keys: Sequence[str]) -> dict[str, str | None]:
    """Delete ``keys`` of ``bucket`` in one request: key -> None (deleted) or its error.

    A whole-request failure (access denied to the bucket, a broken answer) is every key's
    error: the caller reports each key, none is silently counted as deleted. A key XML
    cannot carry (a NUL, another control character) is deleted on its own (DeleteObject:
    the key is in the URL): in the body it would make the store refuse the whole batch.
    Reached through :meth:`s3fast.Client.delete_batch`, which owns the transport.
    """
    if len(keys) > MAX_BATCH:
        raise ValueError(f"DeleteObjects takes at most {MAX_BATCH} keys, got {len(keys)}")
    alone = [k for k in keys if _NOT_XML.search(k)]
    if not alone:
        return await _delete_objects(transport, bucket, keys)
    out = await _delete_objects(transport, bucket, [k for k in keys if not _NOT_XML.search(k)])
    for k in alone:
        try:
            await transport.call(Request("DELETE", bucket, k, expect=(204, 200)))
            out[k] = None
        except S3Error as exc:
            out[k] = str(exc)
    return out


async def _delete_objects(transport: Transport, bucket: str, keys: Sequence[str]) -> dict[str, str | None]:
    if not keys:
        return {}
    body = delete_body(keys)
    # S3 refuses DeleteObjects without an integrity header.
    headers = {"content-md5": base64.b64encode(hashlib.md5(body).digest()).decode(),  # noqa: S324
               "content-type": "application/xml"}
    out: dict[str, str | None] = {k: None for k in keys}
    try:
        _, answer = await transport.call(Request("POST", bucket, None, query="delete", headers=headers,
                                                body=body, error_in_200=True))
        _, errors = parse_delete(answer)
    except (S3Error, BadAnswer) as exc:
        return {k: str(exc) for k in keys}
    for err in errors:
        if err.key in out:
            out[err.key] = f"{err.code}: {err.message}".rstrip(": ")
    return out


__all__ = ["MAX_BATCH", "delete_batch"]
