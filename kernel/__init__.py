"""The Qualia Core kernel: discovery, plugin processes, supervision, and the front ends."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qualia-core")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"

from typing import TYPE_CHECKING, Any  # noqa: E402

from .errors import (InvalidSetting, PluginFault, QualiaError, RateLimited, StorageError, Unauthorized,  # noqa: E402
                     Unavailable)
from .kernel import Kernel  # noqa: E402
from .settings import Settings  # noqa: E402

if TYPE_CHECKING:
    from .cli.command import Command

# What add-ons (the `ops` package, a lab's own tools) may import: nothing else of the kernel is promised.
__all__ = ["Command", "InvalidSetting", "Kernel", "PluginFault", "QualiaError", "RateLimited", "Settings",
           "StorageError", "Unauthorized", "Unavailable", "__version__"]


def __getattr__(name: str) -> Any:
    """`Command` is loaded on first use: importing the kernel must not import the whole CLI."""
    if name == "Command":
        from .cli.command import Command

        return Command
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
