"""Loopback test infrastructure for s3fast: a multi-IP moto cluster and a fault proxy.

Import from the submodules, e.g. ``from support.faultproxy import FaultProxy`` and
``from support.faultrules import Rule, respond, reset_after``.
"""
