"""Tree copies spread over a Dask cluster: ``s3fast.dask.copy_tree(src, dst, dask_client=...)``.

Needs the ``dask`` extra (``pip install s3fast[dask]``); ``import s3fast`` never imports
it. The driver lists the source and cuts it into batches bounded in bytes and in objects;
each batch runs on a worker with that worker process's one s3fast client (one event loop
per process, reused by every batch), which gets 1/N of the target, cap and memory limit;
results come back as per-batch summaries (counts and the failed keys) and are merged.
See ``_driver`` for the flow and the retry rule, ``_worker`` for what runs on a worker.
"""
from __future__ import annotations

from ._driver import DEFAULT_RETRIES, copy_tree, copy_tree_async, summary_json
from ._plan import DEFAULT_BATCH_BYTES, DEFAULT_BATCH_OBJECTS, BatchResult, Batcher, Summary
from ._worker import CopySpec, close_clients, run_batch, stop_copy

__all__ = ["DEFAULT_BATCH_BYTES", "DEFAULT_BATCH_OBJECTS", "DEFAULT_RETRIES", "BatchResult", "Batcher", "CopySpec",
           "Summary", "close_clients", "copy_tree", "copy_tree_async", "run_batch", "stop_copy", "summary_json"]
