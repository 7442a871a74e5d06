"""What every benchmark target hands to the runners, and the lifecycle it follows.

A target is a place objects go to and come from: a local server the harness starts
(nginx over HTTP or HTTPS, SeaweedFS) or a real bucket (EC2 mode). The orchestrator only
talks to the :class:`Target` protocol: start, make a dataset downloadable, check and
clean up what an upload run wrote, stop.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ..dataset import Dataset


@dataclass(frozen=True)
class Endpoint:
    """Connection facts for runners. ``endpoint_url`` None means AWS's own endpoint for ``region``."""

    target: str
    endpoint_url: str | None
    region: str
    bucket: str
    ca_bundle: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    addressing: Literal["path", "virtual"] = "path"

    @property
    def is_https(self) -> bool:
        return self.endpoint_url is None or self.endpoint_url.startswith("https://")

    def host_header(self) -> str:
        """The Host a request for this bucket carries (path style: the endpoint's host:port)."""
        if self.endpoint_url is None:
            return f"{self.bucket}.s3.{self.region}.amazonaws.com"
        rest = self.endpoint_url.split("://", 1)[1]
        return rest.split("/", 1)[0]

    def object_path(self, key: str) -> str:
        """Request path for ``key``: ``/bucket/key`` (path style) or ``/key`` (virtual host)."""
        if self.endpoint_url is None or self.addressing == "virtual":
            return f"/{key}"
        return f"/{self.bucket}/{key}"

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "endpoint_url": self.endpoint_url,
            "region": self.region,
            "bucket": self.bucket,
            "ca_bundle": self.ca_bundle,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "session_token": self.session_token,
            "addressing": self.addressing,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Endpoint:
        return cls(**data)

    def __repr__(self) -> str:
        return f"<Endpoint {self.target} {self.endpoint_url or 'aws:' + self.region} bucket={self.bucket}>"


@dataclass(frozen=True)
class UploadCheck:
    """What the store holds after an upload run. ``verified`` None: the target cannot tell (a sink)."""

    verified: bool | None
    detail: str = ""
    missing: tuple[str, ...] = field(default_factory=tuple)


class Target(Protocol):
    name: str

    def start(self) -> Endpoint: ...

    def stop(self) -> None: ...

    def prepare_download(self, dataset: Dataset) -> bool:
        """Make every object of ``dataset`` readable at ``dataset.key(i)`` (idempotent).

        Returns True when it had to upload something."""

    def check_upload(self, keys: list[str], size: int) -> UploadCheck:
        """Verify what an upload run stored (sizes), then delete it so space does not pile up."""
        ...

    def facts(self) -> dict[str, Any]: ...
