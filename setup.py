"""Build the Cython runtime extension (nsc_runtime._core); metadata lives in pyproject.toml."""

from Cython.Build import cythonize
from setuptools import Extension, setup

ext = Extension(
    "nsc_runtime._core",
    ["runtime/nsc_runtime/_core.pyx"],
    extra_compile_args=["-O3"],
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
