"""Which paths name one of this process's descriptors (``/dev/stdout``, ``/dev/fd/N``, a
symlink to one), and that an ordinary file, even under /dev/shm, names none."""
from __future__ import annotations

import os
from pathlib import Path

from s3fast.transfer._special import named_descriptor


def test_fd_paths_and_symlinks_to_them_name_the_descriptor(tmp_path: Path) -> None:
    r, w = os.pipe()
    try:
        assert named_descriptor(f"/dev/fd/{w}") == w
        assert named_descriptor(f"/proc/self/fd/{w}") == w
        assert named_descriptor("/dev/stdout") == 1
        link = tmp_path / "out"
        link.symlink_to(f"/dev/fd/{w}")
        assert named_descriptor(str(link)) == w
        chain = tmp_path / "chain"
        chain.symlink_to("out")  # relative: resolved against its own directory
        assert named_descriptor(str(chain)) == w
    finally:
        os.close(r)
        os.close(w)


def test_ordinary_paths_name_none(tmp_path: Path) -> None:
    plain = tmp_path / "data.bin"
    plain.write_bytes(b"x")
    assert named_descriptor(str(plain)) is None
    assert named_descriptor(str(tmp_path / "missing")) is None
    assert named_descriptor(str(tmp_path / "123")) is None  # digits, but not in a descriptor directory
    if os.path.isdir("/dev/shm"):
        assert named_descriptor("/dev/shm/no-such-dir/f.bin") is None
