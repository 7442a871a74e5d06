"""A fake EC2 instance metadata service (IMDSv2) on 127.0.0.1, for tests and dry runs.

``with FakeImds("c5n.18xlarge") as imds:`` then point ``AWS_EC2_METADATA_SERVICE_ENDPOINT``
at ``imds.url``. A PUT to ``/latest/api/token`` hands out a token; GETs without it get 401,
so a client that skips the IMDSv2 handshake fails here as it would on a real instance.
Every request is recorded in ``requests`` as (method, path, token-or-ttl header).
"""
from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class FakeImds:
    """IMDSv2 on loopback: a PUT hands out a token, GETs without it get 401."""

    TOKEN = "fake-token-123"

    def __init__(self, instance_type: str = "c5n.18xlarge") -> None:
        self.instance_type = instance_type
        self.requests: list[tuple[str, str, str | None]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def _send(self, status: int, body: str) -> None:
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_PUT(self) -> None:  # noqa: N802 - http.server naming
                ttl = self.headers.get("X-aws-ec2-metadata-token-ttl-seconds")
                fake.requests.append(("PUT", self.path, ttl))
                if self.path == "/latest/api/token" and ttl:
                    self._send(200, fake.TOKEN)
                else:
                    self._send(400, "")

            def do_GET(self) -> None:  # noqa: N802
                token = self.headers.get("X-aws-ec2-metadata-token")
                fake.requests.append(("GET", self.path, token))
                if token != fake.TOKEN:
                    self._send(401, "")
                    return
                answers = {
                    "/latest/meta-data/instance-type": fake.instance_type,
                    "/latest/meta-data/placement/availability-zone": "us-east-1a",
                    "/latest/meta-data/placement/region": "us-east-1",
                }
                if self.path in answers:
                    self._send(200, answers[self.path])
                else:
                    self._send(404, "")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __repr__(self) -> str:
        n = len(self.requests)
        return f"<FakeImds {self.url} instance_type={self.instance_type} requests={n}>"

    def __enter__(self) -> FakeImds:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
