"""The default throughput target: the CRT's recommendation on EC2, 10 Gbps elsewhere.

``awscrt.s3.get_recommended_throughput_target_gbps()`` knows the NIC bandwidth of EC2 instance
types, but to learn the instance type it may ask the instance metadata service (IMDS, a network
call with a timeout). Off EC2 that call is wasted time at best, so we first look at the local DMI
strings (files under ``/sys/class/dmi/id``, no network) and only ask awscrt when they say EC2.
"""
from __future__ import annotations

import logging
import math
import os

__all__ = ["DEFAULT_TARGET_GBPS", "default_target_gbps", "is_ec2"]

logger = logging.getLogger(__name__)

DEFAULT_TARGET_GBPS = 10.0
"""The CRT's default target when the instance type is unknown."""

DMI_DIR = "/sys/class/dmi/id"

# Nitro instances report "Amazon EC2" as vendor; their board asset tag is the instance id.
_VENDOR_FILES = ("sys_vendor", "bios_vendor", "board_vendor", "chassis_vendor", "product_name")


def _read(dmi_dir: str, name: str) -> str:
    try:
        with open(os.path.join(dmi_dir, name), encoding="utf-8", errors="replace") as f:
            return f.read(256).strip()
    except OSError:  # missing, or root-only (product_uuid, product_serial)
        return ""


def is_ec2(dmi_dir: str = DMI_DIR) -> bool:
    """True if the DMI strings under ``dmi_dir`` identify an EC2 instance. Reads files only."""
    if _read(dmi_dir, "board_asset_tag").startswith("i-"):
        return True
    if any("amazon ec2" in _read(dmi_dir, name).lower() for name in _VENDOR_FILES):
        return True
    # Older Xen-based instance types: "4.11.amazon" BIOS, or a UUID starting with "ec2".
    if "amazon" in _read(dmi_dir, "bios_version").lower():
        return True
    return _read(dmi_dir, "product_uuid").lower().startswith("ec2")


def default_target_gbps(dmi_dir: str = DMI_DIR) -> float:
    """The throughput target to use when the user gives none.

    On EC2 (by :func:`is_ec2`), the CRT's recommendation for the instance type if it knows one;
    otherwise, and on any failure, :data:`DEFAULT_TARGET_GBPS`. Call it once per client: on EC2
    it may take up to about a second.
    """
    if not is_ec2(dmi_dir):
        return DEFAULT_TARGET_GBPS
    try:
        import awscrt.s3

        recommended = awscrt.s3.get_recommended_throughput_target_gbps()
    except Exception:  # an optional refinement: never let it break a transfer
        logger.debug("awscrt throughput recommendation failed", exc_info=True)
        return DEFAULT_TARGET_GBPS
    if recommended is None or not (recommended > 0 and math.isfinite(recommended)):
        return DEFAULT_TARGET_GBPS
    return float(recommended)
