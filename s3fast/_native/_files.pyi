# Stub of the compiled module (s3fast/_native/_files.pyx); the pure twin is s3fast/_py/_files.py.
from collections.abc import Sequence
from typing import Any

from s3fast._py._common import NAME as NAME
from s3fast._py._common import OPEN as OPEN
from s3fast._py._common import WRITE as WRITE

def write_files(jobs: Sequence[tuple[bytes, bytes, bytes, Any]], proc_fd: int) -> list[tuple[int, int]]: ...
def special(path: str | bytes) -> bool: ...
