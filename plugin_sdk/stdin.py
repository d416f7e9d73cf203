"""Line reader over the plugin's stdin file descriptor.

Unlike iterating `sys.stdin.buffer`, it can also say which complete lines are
available right now without blocking, so a long `run` can notice `$/cancel`.
"""
from __future__ import annotations

import os
import select


class LineReader:
    def __init__(self, fd: int = 0) -> None:
        self.fd = fd
        self._buffer = bytearray()
        self._start = 0  # consumed prefix of _buffer, compacted lazily
        self.eof = False

    def _take_line(self) -> bytes | None:
        end = self._buffer.find(b"\n", self._start)
        if end < 0:
            return None
        line = bytes(self._buffer[self._start:end + 1])
        self._start = end + 1
        if self._start > 1 << 20 or self._start == len(self._buffer):
            del self._buffer[:self._start]
            self._start = 0
        return line

    def _fill(self) -> bool:
        chunk = os.read(self.fd, 1 << 20)
        if not chunk:
            self.eof = True
            return False
        self._buffer += chunk
        return True

    def readline(self) -> bytes:
        """The next line, blocking; b"" at end of input (a last unterminated line is returned first)."""
        while (line := self._take_line()) is None:
            if self.eof or not self._fill():
                rest = bytes(self._buffer[self._start:])
                self._buffer.clear()
                self._start = 0
                return rest
        return line

    def ready_lines(self) -> list[bytes]:
        """Every complete line available now, without blocking."""
        while not self.eof and select.select([self.fd], [], [], 0)[0]:
            if not self._fill():
                break
        lines = []
        while (line := self._take_line()) is not None:
            lines.append(line)
        return lines
