"""The Qualia Core kernel: discovery, plugin processes, supervision, and the front ends."""
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("qualia-core")
except PackageNotFoundError:  # running from a source tree without install
    __version__ = "0.0.0+source"

from .errors import QualiaError  # noqa: E402
from .kernel import Kernel  # noqa: E402
from .settings import Settings  # noqa: E402

__all__ = ["Kernel", "QualiaError", "Settings", "__version__"]
