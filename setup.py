"""Packages of the wheel (everything else is in pyproject.toml).

Every sub-package of ``dispatch/`` is found here, and the pages, static files and territory
definitions that stay at the top of the repository (``static/``, ``data/``) are shipped inside
the package as ``dispatch/_project/`` (``package-dir`` in pyproject.toml), where
``dispatch.settings.PROJECT_ROOT`` finds them once installed.
"""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["dispatch", "dispatch.*"], exclude=["*.__pycache__"]),
        "dispatch._project.static",
        "dispatch._project.data",
    ]
)
