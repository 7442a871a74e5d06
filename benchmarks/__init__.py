"""Benchmark harness: s3fast side by side with awscrt, boto3 and s5cmd.

Run ``python -m benchmarks run --quick`` for a smoke run; see ``benchmarks/README.md``.
"""
