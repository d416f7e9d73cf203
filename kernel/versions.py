"""Versions: which kernels a plugin accepts, and which plugin versions a pipeline accepts.

A manifest may name a PEP 440 range of kernel versions (`kernel = ">=0.1,<1"`);
a pipeline step may pin its plugin (`plugin = "word_frequency >=1.2"`). Both are
read with `packaging`, the library pip itself uses, so a range means here what it
means to pip. A mismatch is an error that names both sides, raised before
anything runs.
"""
from __future__ import annotations

import re
from importlib.metadata import PackageNotFoundError, version

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from qualia.plugin_sdk.manifest import Manifest

__all__ = ["PluginPin", "kernel_mismatch", "kernel_version", "parse_pin", "pin_mismatch"]

_PIN = re.compile(r"^\s*([a-z][a-z0-9_]*)\s*(.*?)\s*$")


def kernel_version() -> str:
    try:
        return version("qualia-core")
    except PackageNotFoundError:  # a source tree without install
        return "0.0.0+source"


def _specifiers(text: str, what: str) -> SpecifierSet:
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ValueError(f"{what} {text!r} is not a version range (PEP 440, e.g. '>=1.2,<2')") from None


def kernel_mismatch(manifest: Manifest, running: str | None = None) -> str | None:
    """Why this kernel cannot run the plugin (its `kernel` range excludes it), or None."""
    if not manifest.kernel.strip():
        return None
    running = running or kernel_version()
    try:
        accepted = _specifiers(manifest.kernel, "kernel")
    except ValueError as exc:
        return str(exc)
    if not accepted.contains(running, prereleases=True):
        return f"needs kernel {manifest.kernel}, this is qualia-core {running}"
    return None


class PluginPin:
    """`word_frequency >=1.2`: a plugin id and the versions a pipeline step accepts."""

    __slots__ = ("plugin", "specifiers", "text")

    def __init__(self, plugin: str, specifiers: SpecifierSet, text: str) -> None:
        self.plugin = plugin
        self.specifiers = specifiers
        self.text = text


def parse_pin(text: str) -> PluginPin:
    """A step's `plugin` value: an id, optionally followed by a version range; ValueError says why not."""
    match = _PIN.match(text)
    if match is None:
        raise ValueError(f"{text!r} is not a plugin id with an optional version range "
                         f"(e.g. 'word_frequency' or 'word_frequency >=1.2,<2')")
    plugin, rest = match.groups()
    return PluginPin(plugin, _specifiers(rest, f"version range of {plugin!r}") if rest else SpecifierSet(), text)


def pin_mismatch(pin: PluginPin, manifest: Manifest) -> str | None:
    """Why the installed plugin does not satisfy the pin, or None."""
    if not str(pin.specifiers):
        return None
    try:
        installed = Version(manifest.version)
    except InvalidVersion:
        return (f"plugin {manifest.id!r} has version {manifest.version!r}, which is not a PEP 440 version, so it "
                f"cannot satisfy {pin.specifiers}")
    if not pin.specifiers.contains(installed, prereleases=True):
        return (f"the pipeline needs {pin.plugin} {pin.specifiers}, but the installed plugin is version "
                f"{manifest.version} ({manifest.path})")
    return None
