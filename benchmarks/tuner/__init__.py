"""Auto-tuner convergence scenario (see ``python -m benchmarks.tuner --help``)."""
