# Stub of the compiled module (s3fast/_native/_http.pyx); the pure twin is s3fast/_py/_http.py.
from s3fast._py._common import MAX_HEAD_SIZE as MAX_HEAD_SIZE
from s3fast._py._common import MAX_HEADERS as MAX_HEADERS
from s3fast._py._common import HeadError as HeadError
from s3fast._py._common import parse_content_length as parse_content_length

def find_head_end(buf: bytes | bytearray | memoryview, start: int, end: int) -> int: ...
def parse_head(head: bytes | bytearray | memoryview) -> tuple[int, str, dict[str, str]]: ...
