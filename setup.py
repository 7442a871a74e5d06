"""Build the Cython core (``native/*.pyx``) into ``s3fast._native``, where each module's
augmenting ``.pxd`` (its C-level declarations) and ``.pyi`` (its types for users) live.
Modules whose pure twin compiles well as it is (``COMPILED_TWINS``) have no ``.pyx``: their
one Python source in ``s3fast/_py`` is compiled with the ``.pxd`` of the same name.

Every compiled module has a pure-Python twin in ``s3fast/_py``; the package
works without the extensions (``S3FAST_NO_EXTENSIONS=1`` forces the twins).
Set ``S3FAST_BUILD_PURE=1`` to skip compiling (e.g. on a machine without a C
compiler), and ``S3FAST_CYTHON_ANNOTATE=1`` to write Cython's HTML annotations.
"""
from __future__ import annotations

import glob
import os

from setuptools import setup

#: pure twins that are also the compiled module's source (typed by s3fast/_native/<name>.pxd)
COMPILED_TWINS = ["_sched"]

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
    ] + [
        Extension("s3fast._native." + name, [os.path.join("s3fast", "_py", name + ".py")], extra_compile_args=["-O3"])
        for name in COMPILED_TWINS
    ]
    for name in COMPILED_TWINS:
        # Cython does not count an augmenting .pxd among the .py's dependencies: a C file older
        # than its .pxd would be reused with the old types.
        c_file = os.path.join("s3fast", "_py", name + ".c")
        pxd = os.path.join("s3fast", "_native", name + ".pxd")
        if os.path.exists(c_file) and os.path.getmtime(c_file) < os.path.getmtime(pxd):
            os.remove(c_file)
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
