"""Install the repository's top-level folders under the `qualia` namespace.

The repository keeps kernel/, plugin_sdk/, plugins/ and ops/ at its top; installed, they become
qualia.kernel, qualia.plugin_sdk, qualia.plugins and qualia.ops so they cannot clash with other
distributions that install a top-level `kernel` or `ops`. Everything else is in pyproject.toml.
"""
from setuptools import find_namespace_packages, setup

FOLDERS = ("kernel", "plugin_sdk", "plugins", "ops")

setup(
    # Namespace discovery, so data-only folders (the server's assets/) ship with their package data.
    packages=[f"qualia.{name}" for name in find_namespace_packages(include=[f"{folder}*" for folder in FOLDERS],
                                                                      exclude=["*__pycache__*"])],
    package_dir={f"qualia.{folder}": folder for folder in FOLDERS},
)
