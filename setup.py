"""Package discovery that pyproject.toml cannot express on its own.

setuptools' `packages.find` only finds folders where they are, and relay.web / relay.configs
are mapped from web/ and configs/ (see pyproject.toml). Everything else under relay/ is
found, so a new subpackage ships without editing a list.
"""

from setuptools import find_packages, setup

setup(packages=[*find_packages(include=["relay", "relay.*"]), "relay.web", "relay.configs"])
