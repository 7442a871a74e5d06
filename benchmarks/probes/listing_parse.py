"""Time ``_s3xml.parse_list_v2`` on one saved ListObjectsV2 page (e.g. 1,000 keys).

    curl -s "$ENDPOINT/bucket?list-type=2&prefix=p/" -o page.xml
    python benchmarks/probes/listing_parse.py page.xml [N]
"""
from __future__ import annotations

import sys
import time

from s3fast._s3xml import parse_list_v2


def main() -> None:
    body = open(sys.argv[1], "rb").read()
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 50
    keys = len(parse_list_v2(body).objects)
    t = time.perf_counter()
    for _ in range(n):
        parse_list_v2(body)
    print(f"{keys} keys: {(time.perf_counter() - t) / n * 1e3:.2f} ms per page ({n} parses)")


if __name__ == "__main__":
    main()
