"""Base classes for the three plugin kinds.

A plugin author subclasses one of them and implements a single method. The
config handed to that method is already validated, defaults filled in.
"""
from __future__ import annotations

from typing import Any, Callable, ClassVar

from .document import Document
from .errors import Cancelled
from .manifest import FORMAT_MEDIA_TYPES, Manifest

ProgressSink = Callable[[float, float | None], None]
CancelCheck = Callable[[], bool]


class Plugin:
    kind: ClassVar[str] = ""

    def __init__(self) -> None:
        self.manifest: Manifest | None = None  # set by serve() or the test harness
        self._progress: ProgressSink | None = None
        self._cancel_check: CancelCheck | None = None

    def setup(self) -> None:
        """Called once after the handshake; load heavy resources here, not at import."""

    def progress(self, done: float, total: float | None = None) -> None:
        """Report progress of the current run (a `$/progress` notification).

        Raises Cancelled when the kernel has cancelled the run, so long loops that
        report progress stop early for free.
        """
        if self._progress is not None:
            self._progress(done, total)
        if self.cancelled():
            raise Cancelled()

    def cancelled(self) -> bool:
        """True once the kernel sent `$/cancel` for the current run (cheap: a non-blocking poll)."""
        return self._cancel_check is not None and self._cancel_check()


class AnalyzerPlugin(Plugin):
    """Takes a Document, returns a JSON object."""

    kind = "analyzer"

    def analyze(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError


class DocumentPlugin(Plugin):
    """Takes a Document, returns a Document (cleaning, parsing)."""

    kind = "document"

    def process(self, document: Document, config: dict[str, Any]) -> Document:
        raise NotImplementedError


class Figure:
    """What a visualizer returns: bytes and their media type."""

    __slots__ = ("media_type", "data")

    def __init__(self, data: bytes | str, media_type: str) -> None:
        self.data = data.encode("utf-8") if isinstance(data, str) else data
        self.media_type = media_type

    @classmethod
    def of_format(cls, data: bytes | str, fmt: str) -> "Figure":
        return cls(data, FORMAT_MEDIA_TYPES[fmt])


class VisualizerPlugin(Plugin):
    """Takes analyzer results (in `inputs`) and returns a Figure in `config["format"]`."""

    kind = "visualizer"

    def render(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> Figure:
        raise NotImplementedError
