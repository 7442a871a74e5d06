"""Shared fixtures: real servers on loopback (see tests/support)."""
from __future__ import annotations

import os

# Never let botocore's or awscrt's credential chain reach the instance metadata service.
os.environ["AWS_EC2_METADATA_DISABLED"] = "true"
os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
for _var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
    os.environ.pop(_var, None)

from support.signals import uninherit_ignored_signals

pytest_plugins = ["support.fixtures"]

# A suite started in the background (`scripts/test &`, nohup) must still be able to
# interrupt the CLIs it starts (see support/signals.py).
uninherit_ignored_signals()
