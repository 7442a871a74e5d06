"""The runner registry: which transfer clients the harness can drive, and how.

Each runner is a small adapter module (``run`` for Python runners, ``command``/``parse`` for
executables) plus a :class:`RunnerSpec` here saying what it supports. A run's label is the
runner name, suffixed ``@matched`` in matched mode (same concurrency and part size for all).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Literal

from ..workloads import Workload

MODES = ("default", "matched")


@dataclass(frozen=True)
class RunnerSpec:
    """One runnable client. ``env`` entries with value None are removed from the child's env."""

    name: str
    module: str
    kind: Literal["python", "exec"]
    family: str
    description: str
    env: tuple[tuple[str, str | None], ...] = ()
    storages: frozenset[str] = frozenset({"disk", "memory"})
    multi_object: bool = True
    expect_native: bool | None = None  # s3fast: a run reporting the other core fails

    @property
    def is_s3fast(self) -> bool:
        return self.family == "s3fast"

    def load(self) -> ModuleType:
        return importlib.import_module(self.module)

    def available(self) -> str | None:
        """None when usable, else why not."""
        try:
            module = self.load()
        except ImportError as exc:
            return f"{self.module} failed to import: {exc}"
        reason: str | None = module.available()
        if reason is None and self.expect_native:
            from .s3fast_common import compiled_core_missing

            reason = compiled_core_missing()
        return reason

    def version(self) -> str:
        try:
            return str(self.load().version())
        except Exception as exc:  # noqa: BLE001 - a broken install is reported, not fatal
            return f"unknown ({exc})"

    def supports(self, workload: Workload) -> str | None:
        """None when this runner can run ``workload``, else why not."""
        if workload.storage not in self.storages:
            return f"{self.name} has no {workload.storage} mode"
        if workload.count > 1 and not self.multi_object:
            return f"{self.name} copies one object per invocation"
        return None

    def __repr__(self) -> str:
        return f"<RunnerSpec {self.name} [{self.kind} {self.module}]>"


_PKG = __name__
# Native runs require the compiled core (s3fast would otherwise fall back silently and the
# "native" row would measure pure Python); pure runs switch it off.
_NATIVE_ENV = (("S3FAST_NO_EXTENSIONS", None), ("S3FAST_REQUIRE_EXTENSIONS", "1"))
_PURE_ENV = (("S3FAST_NO_EXTENSIONS", "1"), ("S3FAST_REQUIRE_EXTENSIONS", None))
RUNNERS: tuple[RunnerSpec, ...] = (
    RunnerSpec(
        "s3fast-native", f"{_PKG}.s3fast_api", "python", "s3fast",
        "s3fast asyncio API, compiled core", env=_NATIVE_ENV, expect_native=True,
    ),
    RunnerSpec(
        "s3fast-pure", f"{_PKG}.s3fast_api", "python", "s3fast",
        "s3fast asyncio API, pure-Python fallback", env=_PURE_ENV, expect_native=False,
    ),
    RunnerSpec(
        "s3fast-cli-native", f"{_PKG}.s3fast_cli", "exec", "s3fast",
        "s3fast cp, compiled core", env=_NATIVE_ENV, expect_native=True,
        storages=frozenset({"disk"}), multi_object=False,
    ),
    RunnerSpec(
        "s3fast-cli-pure", f"{_PKG}.s3fast_cli", "exec", "s3fast",
        "s3fast cp, pure-Python fallback", env=_PURE_ENV, expect_native=False,
        storages=frozenset({"disk"}), multi_object=False,
    ),
    RunnerSpec("awscrt", f"{_PKG}.awscrt_runner", "python", "awscrt", "awscrt.s3.S3Client"),
    RunnerSpec("boto3", f"{_PKG}.boto3_classic", "python", "boto3", "boto3 + classic s3transfer"),
    RunnerSpec(
        "boto3-crt", f"{_PKG}.boto3_crt", "python", "boto3", "boto3/s3transfer CRTTransferManager"
    ),
    RunnerSpec(
        "s5cmd", f"{_PKG}.s5cmd_runner", "exec", "s5cmd", "s5cmd Go binary",
        storages=frozenset({"disk"}),
    ),
)


def get_runner(name: str) -> RunnerSpec:
    for spec in RUNNERS:
        if spec.name == name:
            return spec
    raise KeyError(f"unknown runner {name!r} (known: {', '.join(r.name for r in RUNNERS)})")


def run_label(name: str, mode: str) -> str:
    return name if mode == "default" else f"{name}@{mode}"


def split_label(label: str) -> tuple[str, str]:
    name, _, mode = label.partition("@")
    return name, mode or "default"
