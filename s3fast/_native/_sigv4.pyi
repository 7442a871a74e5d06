# Stub of the compiled module (s3fast/_native/_sigv4.pyx); the pure twin is s3fast/_py/_sigv4.py.
from collections.abc import Sequence

from s3fast._py._sigv4 import ALGORITHM as ALGORITHM
from s3fast._py._sigv4 import Mac
from s3fast._py._sigv4 import canonical_query as canonical_query
from s3fast._py._sigv4 import plain_head as plain_head
from s3fast._py._sigv4 import sign_headers as sign_headers
from s3fast._py._sigv4 import trim as trim

def signed_head(method: str, target: str, headers: Sequence[tuple[str, str]], user_agent: str, payload: str,
                amz_date: str, scope: str, access_key: str, token: str | None, key: Mac) -> bytes: ...
