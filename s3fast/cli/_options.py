"""Option groups every subcommand shares, their value checks, and the client built from them.

A subcommand calls :func:`add_common_options` (endpoint and credentials, output, --debug)
and, if it moves data, :func:`add_transfer_options`; then :func:`make_client` inside its
coroutine. Each value is checked where it is parsed, so a mistake is exit 2 with one line
naming the option, before any request is sent.
"""
from __future__ import annotations

import argparse
import math
import os
import re
from typing import Any

from .._config import CHECKSUM_ALGORITHMS, MAX_CONCURRENCY, MAX_GBPS, TransferConfig
from .._errors import ConfigError
from .._headers import check_header_value, check_region
from .._units import format_size, parse_size
from .._url import parse_endpoint_url
from ._runner import warn


# A plain decimal number in ASCII. float() and int() also take other scripts' digits ('٣'),
# underscores ('1_0') and words ('infinity'): a typo or a paste from elsewhere would
# otherwise become a value the user never wrote.
_DECIMAL_RE = re.compile(r"\s*[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?\s*", re.ASCII)


def size(text: str) -> int:
    if not text.isascii():
        raise argparse.ArgumentTypeError(f"not a size: {text[:40]!r} (ASCII digits and a unit, e.g. 8MiB)")
    try:
        return parse_size(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def gbps(text: str) -> float:
    """A rate in Gbps: a finite number in (0, MAX_GBPS] (nan, inf and 1e308 are refused)."""
    if not _DECIMAL_RE.fullmatch(text):
        if text.strip().lower().lstrip("+-") in ("inf", "infinity", "nan"):
            raise argparse.ArgumentTypeError(f"must be > 0 and at most {MAX_GBPS:g} Gbps, got {text[:40]!r}")
        raise argparse.ArgumentTypeError(f"not a number: {text[:40]!r}")
    value = float(text)
    if not (math.isfinite(value) and 0 < value <= MAX_GBPS):
        raise argparse.ArgumentTypeError(f"must be > 0 and at most {MAX_GBPS:g} Gbps, got {text[:40]!r}")
    return value


def concurrency(text: str) -> int:
    if not (text.strip().isascii() and text.strip().isdigit()) or len(text.strip()) > 6:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_CONCURRENCY}, got {text[:40]!r}")
    value = int(text)
    if not 1 <= value <= MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(f"expected a whole number from 1 to {MAX_CONCURRENCY}, got {value}")
    return value


def header_value(name: str) -> Any:
    def check(text: str) -> str:
        try:
            return check_header_value(name, text, what=f"--{name}")
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return check


def add_common_options(parser: argparse.ArgumentParser, *, output: bool = True) -> None:
    """Endpoint and credentials, output and --debug: every subcommand has them (``output``
    False: only --debug of the output group, for a command whose stdout is the data)."""
    g = parser.add_argument_group("endpoint and credentials")
    g.add_argument("--endpoint-url", help="S3-compatible endpoint, http(s)://host[:port] (default: "
                                          "AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL, else AWS S3)")
    g.add_argument("--region", help="region (default: AWS_REGION / profile / us-east-1)")
    g.add_argument("--profile", help="shared-config profile for credentials")
    g.add_argument("--no-sign-request", action="store_true", help="anonymous requests (public buckets)")
    g.add_argument("--addressing-style", choices=("auto", "path", "virtual"), default="auto",
                   help="bucket in the path or in the host name (default: auto)")
    g.add_argument("--ca-bundle", help="PEM file of CAs to trust for HTTPS (default: AWS_CA_BUNDLE)")
    g.add_argument("--no-verify-ssl", action="store_true",
                   help="do not verify TLS certificates (warns on stderr; default: verify)")
    g.add_argument("--resolve", action="append", default=[], metavar="HOST:IP[,IP...]",
                   help="pin HOST to these IPs, as curl does (repeatable)")
    o = parser.add_argument_group("output")
    if not output:
        o.add_argument("--debug", action="store_true",
                       help="a traceback with unexpected errors (default: one line; also S3FAST_DEBUG=1)")
        return
    o.add_argument("--json", action="store_true", help="print a JSON summary on stdout")
    o.add_argument("--stats", action="store_true", help="print per-IP counters on stderr")
    o.add_argument("--progress", choices=("auto", "bar", "log", "off"), default="auto",
                   help="progress on stderr: a bar on a terminal, a plain line every 5 s otherwise (default: auto)")
    o.add_argument("--quiet", "-q", action="store_true", help="no summary line, no progress")
    o.add_argument("--debug", action="store_true",
                   help="a traceback with unexpected errors (default: one line; also S3FAST_DEBUG=1)")


def add_transfer_options(parser: argparse.ArgumentParser, *, upload_options: bool = True) -> None:
    """Part size, rate and memory (``upload_options``: also --checksum and --content-type,
    which ``sync`` leaves out: its --checksum compares, and it keeps each file's type)."""
    t = parser.add_argument_group("transfer")
    d = TransferConfig()
    t.add_argument("--part-size", type=size, default=d.part_size,
                   help=f"part / range size, 5MiB to 5GiB (default: {format_size(d.part_size)})")
    if upload_options:
        t.add_argument("--checksum", choices=CHECKSUM_ALGORITHMS, default=d.checksum,
                       help=f"full-object checksum for uploads (default: {d.checksum})")
    t.add_argument("--concurrency", type=concurrency, default=None,
                   help=f"fixed number of requests in flight, 1 to {MAX_CONCURRENCY} "
                        "(default: auto-tuned to --target-gbps)")
    t.add_argument("--target-gbps", type=gbps, default=None,
                   help="throughput the tuner aims at, > 0 (default: EC2's recommended value, else 10)")
    t.add_argument("--max-gbps", type=gbps, default=None, help="never exceed this rate (default: no cap)")
    t.add_argument("--memory-limit", type=size, default=d.memory_limit,
                   help=f"hard bound on buffer memory, at least one part (default: {format_size(d.memory_limit)})")
    if upload_options:
        t.add_argument("--content-type", type=header_value("content-type"),
                       help="Content-Type of an upload (visible ASCII; default: none, S3 stores binary/octet-stream)")


def add_dask_options(parser: argparse.ArgumentParser) -> None:
    """``cp -r ... --dask-scheduler ADDRESS``: run the copy's batches on a Dask cluster
    (the ``dask`` extra; see :mod:`s3fast.cli._dask`)."""
    d = parser.add_argument_group("Dask cluster (cp -r only; needs s3fast[dask])")
    d.add_argument("--dask-scheduler", metavar="ADDRESS",
                   help="run the copy on the workers of this Dask scheduler (e.g. tcp://10.0.0.5:8786); "
                        "local paths must be the same on every worker")
    d.add_argument("--dask-batch-size", type=size, default=None, metavar="SIZE",
                   help="bytes per batch handed to a worker (default: 256MiB; a batch also ends at 1,000 objects)")


def add_resume_options(parser: argparse.ArgumentParser) -> None:
    """--resumable and --state-dir: a transfer that keeps a journal and continues where an
    interrupted run of the same command stopped."""
    r = parser.add_argument_group("resume")
    r.add_argument("--resumable", action="store_true",
                   help="journal the transfer so that running the same command again after a failure, "
                        "Ctrl-C or kill continues it; an interrupt keeps the multipart upload "
                        "(default: off; a failed or interrupted transfer is cleaned up)")
    r.add_argument("--state-dir", metavar="DIR", default=None,
                   help="where journals are kept (default: S3FAST_STATE_DIR, else $XDG_STATE_HOME/s3fast, "
                        "else ~/.local/state/s3fast)")


def transfer_config(args: argparse.Namespace) -> TransferConfig:
    return TransferConfig(
        part_size=args.part_size, max_concurrency=args.concurrency,
        target_gbps=args.target_gbps, max_gbps=args.max_gbps, memory_limit=args.memory_limit,
        **({"checksum": args.checksum} if isinstance(getattr(args, "checksum", None), str) else {}),
    )


#: what a PEM CA file holds (OpenSSL's cafile reader takes these blocks)
_PEM_MARKERS = (b"-----BEGIN CERTIFICATE-----", b"-----BEGIN TRUSTED CERTIFICATE-----", b"-----BEGIN X509 CRL-----")


def check_ca_bundle(path: str, origin: str, *, inspect: bool = True) -> str:
    """A readable file with PEM certificates in it, or ConfigError (instead of an SSLError
    deep in a connect).

    Only the file and its PEM markers are checked: parsing a system bundle costs tens of
    ms of CPU, which the TLS context pays once anyway (and a plain-HTTP endpoint never);
    certificates that OpenSSL cannot parse are named by :func:`make_client` instead.
    ``inspect=False`` checks only that the file is there: a bundle set machine-wide that a
    plain-HTTP endpoint never reads."""
    if not os.path.exists(path):
        raise ConfigError(f"{origin}: no such file: {path}")
    if not os.path.isfile(path):
        raise ConfigError(f"{origin}: not a file: {path}")
    if not inspect:
        return path
    try:
        with open(path, "rb") as f:
            tail = b""
            while chunk := f.read(1 << 20):
                window = tail + chunk
                if any(marker in window for marker in _PEM_MARKERS):
                    return path
                tail = window[-64:]
    except OSError as exc:
        raise ConfigError(f"{origin}: cannot read {path}: {exc.strerror or exc}") from None
    raise ConfigError(f"{origin}: {path} holds no PEM certificate")


def check_client_options(args: argparse.Namespace) -> dict[str, list[str]] | None:
    """What can be checked before a client exists; returns the parsed --resolve mapping."""
    if args.endpoint_url is not None:
        parse_endpoint_url(args.endpoint_url)
    if args.region is not None:
        check_region(args.region, custom_endpoint=True)  # the strict AWS form is checked with the endpoint
    if args.ca_bundle is not None:
        check_ca_bundle(args.ca_bundle, "--ca-bundle")
    elif os.environ.get("AWS_CA_BUNDLE"):
        # Often set machine-wide; a plain-HTTP endpoint never reads it.
        url = args.endpoint_url or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or ""
        check_ca_bundle(os.environ["AWS_CA_BUNDLE"], "AWS_CA_BUNDLE", inspect=not url.lower().startswith("http://"))
    from ..net._resolver import parse_resolve_option

    try:
        resolve = parse_resolve_option(args.resolve) if args.resolve else None
    except ValueError as exc:
        raise ConfigError(str(exc)) from None
    if args.no_verify_ssl:
        warn("--no-verify-ssl: TLS certificates are not checked; anyone on the path can read and change the data")
    return resolve


def make_client(args: argparse.Namespace, config: TransferConfig | None = None) -> Any:
    """The client for a parsed command line (call inside the command's coroutine)."""
    import ssl

    from .._client import Client

    resolve = check_client_options(args)
    try:
        return Client(
            endpoint_url=args.endpoint_url, region=args.region, profile=args.profile,
            anonymous=args.no_sign_request, addressing_style=args.addressing_style,
            ca_bundle=args.ca_bundle, verify=not args.no_verify_ssl, resolve=resolve, config=config,
            state_dir=getattr(args, "state_dir", None),
        )
    except ssl.SSLError as exc:  # the TLS context read the CA bundle: bad input, not a failed transfer
        origin, path = ("--ca-bundle", args.ca_bundle) if args.ca_bundle else \
            ("AWS_CA_BUNDLE", os.environ.get("AWS_CA_BUNDLE"))
        raise ConfigError(f"{origin}: {path} holds no PEM certificate ({exc.reason or exc})") from None


__all__ = [
    "add_common_options",
    "add_dask_options",
    "add_resume_options",
    "add_transfer_options",
    "check_ca_bundle",
    "check_client_options",
    "concurrency",
    "gbps",
    "make_client",
    "size",
    "transfer_config",
]
