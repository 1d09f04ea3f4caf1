"""Build the Cython runtime extension (nsc_runtime._core); metadata lives in pyproject.toml.

The kernel uses OpenMP threads where the compiler supports ``-fopenmp`` (Linux gcc/clang);
elsewhere it builds without and every run uses one thread (same results). No ``-march``: the
kernel picks its AVX2 variant at run time.
"""

import sys

from Cython.Build import cythonize
from setuptools import Extension, setup

openmp = ["-fopenmp"] if sys.platform.startswith("linux") else []

ext = Extension(
    "nsc_runtime._core",
    ["runtime/nsc_runtime/_core.pyx"],
    extra_compile_args=["-O3", *openmp],
    extra_link_args=openmp,
)

setup(
    ext_modules=cythonize(
        [ext],
        language_level="3",
        compiler_directives={
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
        },
    )
)
