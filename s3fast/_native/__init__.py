"""Compiled twins of the modules in ``s3fast._py`` (built from the ``.pyx`` sources beside this file)."""
