"""Peer clients written for the benchmarks where no shipped command does the job."""
