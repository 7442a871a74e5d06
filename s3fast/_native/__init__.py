"""Compiled twins of the modules in ``s3fast._py`` (built from ``native/*.pyx``)."""
