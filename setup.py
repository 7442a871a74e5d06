"""Build the Cython core (``native/*.pyx``) into ``s3fast._native``, where each module's
augmenting ``.pxd`` (its C-level declarations) and ``.pyi`` (its types for users) live.

Every compiled module has a pure-Python twin in ``s3fast/_py``; the package
works without the extensions (``S3FAST_NO_EXTENSIONS=1`` forces the twins).
Set ``S3FAST_BUILD_PURE=1`` to skip compiling (e.g. on a machine without a C
compiler), and ``S3FAST_CYTHON_ANNOTATE=1`` to write Cython's HTML annotations.
"""
from __future__ import annotations

import glob
import os

from setuptools import setup

ext_modules = []
if not os.environ.get("S3FAST_BUILD_PURE"):
    from Cython.Build import cythonize
    from setuptools import Extension

    sources = sorted(glob.glob(os.path.join("native", "*.pyx")))
    extensions = [
        Extension(
            "s3fast._native." + os.path.splitext(os.path.basename(src))[0],
            [src],
            extra_compile_args=["-O3"],
        )
        for src in sources
    ]
    ext_modules = cythonize(
        extensions,
        language_level=3,
        annotate=bool(os.environ.get("S3FAST_CYTHON_ANNOTATE")),
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "embedsignature": True,
        },
    )

setup(ext_modules=ext_modules)
