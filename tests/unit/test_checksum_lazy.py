"""The checksum module loads awscrt only when a checksum is needed, and its combine gives
the same value as one pass over the concatenated data, for every algorithm."""
from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap

import pytest
from awscrt import checksums as crt

from s3fast import _checksum


def test_awscrt_is_loaded_on_the_first_checksum_only() -> None:
    code = textwrap.dedent("""
        import json, sys
        from s3fast import _checksum
        steps = ['awscrt' in sys.modules]
        _checksum.from_headers({"etag": '"abc"'})  # no checksum in the answer
        _checksum.get("none")
        steps.append('awscrt' in sys.modules)
        algo, value, kind = _checksum.from_headers({"x-amz-checksum-crc32c": "yZRlqg=="})
        steps += ['awscrt' in sys.modules, algo.of(b"hello world"), algo.decode(value), kind]
        print(json.dumps(steps))
    """)
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == [False, False, True, 3381945770, 3381945770, "FULL_OBJECT"]


REFERENCE = {"crc64nvme": crt.crc64nvme, "crc32c": crt.crc32c, "crc32": crt.crc32}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_values_and_combine_match_one_pass(name: str) -> None:
    algo = _checksum.get(name)
    assert algo is not None and algo.name == name and algo.header == f"x-amz-checksum-{name}"
    rng = random.Random(1234)
    for length in (0, 1, 7, 8, 9, 63, 64, 65, 4095, 4096, 65537, 1 << 20, (1 << 20) + 13):
        data = os.urandom(length)
        whole = REFERENCE[name](data)
        assert algo.of(data) == whole
        assert algo.decode(algo.encode(whole)) == whole
        # Pieces in random order, split at random offsets, combined by the Combiner.
        cuts = sorted({0, length, *(rng.randrange(length + 1) for _ in range(5))})
        pieces = [(a, b) for a, b in zip(cuts, cuts[1:])]
        combiner = _checksum.Combiner(algo)
        for a, b in rng.sample(pieces, len(pieces)):
            combiner.add(a, algo.of(data[a:b]), b - a)
        if pieces:
            assert combiner.result(length) == whole
            assert combiner.span(0, length) == whole
        # Continuing from a stored value is the same as one pass.
        half = length // 2
        assert algo.update(data[half:], algo.of(data[:half])) == whole
