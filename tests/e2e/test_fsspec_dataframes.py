"""The libraries pipelines use, reading and writing through S3FastFileSystem on loopback:
pandas, pyarrow (through PyFileSystem(FSSpecHandler)), dask.dataframe, and the async API."""
from __future__ import annotations

import asyncio
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.fs as pafs
import pyarrow.parquet as pq

from fsspec_helpers import make_fs, storage_options
from s3fast.fsspec import S3FastFileSystem


def _frame(n: int, seed: int = 0) -> pd.DataFrame:
    return pd.DataFrame({"i": range(seed, seed + n), "s": [f"row-{k}" for k in range(seed, seed + n)],
                         "f": [k / 7 for k in range(seed, seed + n)]})


def test_pandas_parquet_round_trip(moto_cluster: Any, bucket: str) -> None:
    df = _frame(5000)
    opts = storage_options(moto_cluster)
    df.to_parquet(f"s3fast://{bucket}/data.parquet", storage_options=opts, row_group_size=1000)
    back = pd.read_parquet(f"s3fast://{bucket}/data.parquet", storage_options=opts)
    pd.testing.assert_frame_equal(back, df)
    # a column subset reads through the footer and ranged column chunks
    cols = pd.read_parquet(f"s3fast://{bucket}/data.parquet", storage_options=opts, columns=["s"])
    assert cols["s"].tolist() == df["s"].tolist()


def test_pandas_csv_round_trip(moto_cluster: Any, bucket: str) -> None:
    df = _frame(2000)
    opts = storage_options(moto_cluster)
    df.to_csv(f"s3fast://{bucket}/data.csv", storage_options=opts, index=False)
    pd.testing.assert_frame_equal(pd.read_csv(f"s3fast://{bucket}/data.csv", storage_options=opts), df)


def test_pyarrow_through_fsspec_handler(moto_cluster: Any, bucket: str) -> None:
    fs = make_fs(moto_cluster)
    try:
        pfs = pafs.PyFileSystem(pafs.FSSpecHandler(fs))
        table = pa.Table.from_pandas(_frame(3000), preserve_index=False)
        pq.write_table(table, f"{bucket}/t/part.parquet", filesystem=pfs, row_group_size=500)
        info = pfs.get_file_info(f"{bucket}/t/part.parquet")
        assert info.type == pafs.FileType.File and info.size > 0
        back = pq.read_table(f"{bucket}/t", filesystem=pfs)
        assert back.equals(table)
        meta = pq.ParquetFile(f"{bucket}/t/part.parquet", filesystem=pfs).metadata
        assert meta.num_row_groups == 6 and meta.num_rows == 3000
    finally:
        fs.close()


def test_dask_reads_a_multi_file_dataset(moto_cluster: Any, bucket: str) -> None:
    import dask
    import dask.dataframe as dd

    opts = storage_options(moto_cluster)
    parts = [_frame(400, seed=1000 * k) for k in range(4)]
    for k, part in enumerate(parts):
        part.to_parquet(f"s3fast://{bucket}/ds/part-{k}.parquet", storage_options=opts)
    with dask.config.set(scheduler="threads"):
        ddf = dd.read_parquet(f"s3fast://{bucket}/ds/", storage_options=opts)
        assert ddf.npartitions == 4
        got = ddf.compute().sort_values("i").reset_index(drop=True)
    # dask picks its own string dtype; the values are what matter
    pd.testing.assert_frame_equal(got, pd.concat(parts).reset_index(drop=True), check_dtype=False)


def test_asynchronous_instance_on_the_callers_loop(moto_cluster: Any, bucket: str) -> None:
    async def main() -> None:
        fs = S3FastFileSystem(asynchronous=True, skip_instance_cache=True, **storage_options(moto_cluster))
        try:
            await fs._pipe_file(f"{bucket}/z/0.0", b"chunk-0")
            await asyncio.gather(*(fs._pipe_file(f"{bucket}/z/{i}.0", f"chunk-{i}".encode()) for i in range(1, 8)))
            assert await fs._cat_file(f"{bucket}/z/3.0") == b"chunk-3"
            assert await fs._cat_file(f"{bucket}/z/3.0", start=-1) == b"3"
            assert len(await fs._find(f"{bucket}/z")) == 8
            assert await fs._exists(f"{bucket}/z/7.0")
            assert (await fs._cat_ranges([f"{bucket}/z/1.0"], [0], [5])) == [b"chunk"]
            # the client belongs to this loop
            assert fs._clients.get() is fs._clients.get()
        finally:
            await fs.aclose()

    asyncio.run(main())


def test_zarr3_array_round_trip(moto_cluster: Any, bucket: str) -> None:
    import numpy as np
    import zarr

    # zarr 3 opens the filesystem with asynchronous=True and drives it from its own loop
    opts = storage_options(moto_cluster)
    data = np.arange(10_000, dtype="i4").reshape(100, 100)
    z = zarr.open_array(f"s3fast://{bucket}/arr.zarr", mode="w", shape=data.shape, chunks=(30, 30),
                        dtype="i4", storage_options=opts)
    z[:] = data
    back = zarr.open_array(f"s3fast://{bucket}/arr.zarr", mode="r", storage_options=opts)
    assert (back[:] == data).all()
    assert (back[5:7, 90:95] == data[5:7, 90:95]).all()
    keys = {o["Key"] for o in moto_cluster.boto3_client().list_objects_v2(Bucket=bucket)["Contents"]}
    assert "arr.zarr/c/3/3" in keys and len([k for k in keys if "/c/" in k]) == 16  # 4 x 4 chunks
