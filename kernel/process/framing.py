"""Framing: the bytes on a plugin's pipes <-> JSON-RPC messages, one per `\\n`-terminated line.

`ChildPipes` is the asyncio protocol of one child process: it cuts stdout into
lines and decodes them, keeps the tail of stderr, writes messages to stdin with
back-pressure, and reports end of output and the exit of the process itself.
Nothing here knows about requests or plugins; the endpoint and the process
lifecycle sit on top.
"""
from __future__ import annotations

import asyncio
from collections import deque
from typing import Callable

import msgspec

from qualia.plugin_sdk import protocol as p

# Lines of at least 64 MiB must pass; leave room for the JSON-RPC envelope.
READ_LIMIT = p.MAX_LINE_BYTES + 1024 * 1024
STDERR_TAIL_LINES = 40
STDERR_LINE_CHARS = 2000


class FramingError(Exception):
    """stdout carried something that is not one JSON-RPC message per line."""


class LineSplitter:
    """Cuts a byte stream into lines (without their `\\n`); a line longer than `limit` is an error.

    A partial line is kept across chunks and only its new bytes are scanned, so a
    64 MiB line arriving in 64 KiB chunks costs linear time.
    """

    def __init__(self, limit: int = READ_LIMIT) -> None:
        self.limit = limit
        self._partial = bytearray()

    def feed(self, data: bytes) -> list[bytes]:
        if self._partial:
            if data.find(b"\n") < 0:
                self._partial += data
                self._check(len(self._partial))
                return []
            self._partial += data
            data = bytes(self._partial)
            self._partial.clear()
        lines = data.split(b"\n")
        rest = lines.pop()
        if rest:
            self._check(len(rest))
            self._partial += rest
        if len(data) > self.limit:
            for line in lines:
                self._check(len(line))
        return lines

    def flush(self) -> bytes:
        """The unterminated rest at end of input (a last message without its `\\n`)."""
        rest = bytes(self._partial)
        self._partial.clear()
        return rest

    def _check(self, size: int) -> None:
        if size > self.limit:
            raise FramingError(f"a line longer than {self.limit} bytes")


class StderrTail:
    """The last lines a plugin wrote to stderr (each cut to a bounded length); older ones are dropped."""

    def __init__(self, lines: int = STDERR_TAIL_LINES, chars: int = STDERR_LINE_CHARS) -> None:
        self.lines: deque[str] = deque(maxlen=lines)
        self._chars = chars
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        parts = (self._partial + chunk).split(b"\n")
        self._partial = parts.pop()[-self._chars:]
        for line in parts[-(self.lines.maxlen or 1):]:
            self.lines.append(line[:self._chars].decode("utf-8", "replace").rstrip())

    def close(self) -> None:
        if self._partial:
            self.lines.append(self._partial.decode("utf-8", "replace").rstrip())
            self._partial = b""


MessageHandler = Callable[[p.Message, bytes], None]
ViolationHandler = Callable[[str], None]


class ChildPipes(asyncio.SubprocessProtocol):
    """The pipes of one child: messages in and out, stderr tail, end of output, exit."""

    def __init__(self, on_message: MessageHandler, on_violation: ViolationHandler) -> None:
        loop = asyncio.get_running_loop()
        self.on_message = on_message
        self.on_violation = on_violation
        self.stderr = StderrTail()
        self.exited: asyncio.Future[int] = loop.create_future()  # resolved with the return code
        self.stdout_closed: asyncio.Future[None] = loop.create_future()
        self.stderr_closed: asyncio.Future[None] = loop.create_future()
        self.transport: asyncio.SubprocessTransport | None = None
        self._stdin: asyncio.WriteTransport | None = None
        self._codec = p.LineCodec()
        self._splitter = LineSplitter()
        self._broken = False  # stdout broke the framing: ignore whatever follows
        self._resumed: asyncio.Future[None] | None = None

    # ---- asyncio.SubprocessProtocol ---------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.SubprocessTransport)
        self.transport = transport
        self._stdin = transport.get_pipe_transport(0)  # type: ignore[assignment]

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        if fd == 2:
            self.stderr.feed(data)
            return
        if self._broken:
            return
        try:
            lines = self._splitter.feed(data)
        except FramingError as exc:
            self._violation(str(exc))
            return
        self._deliver(lines)

    def _deliver(self, lines: list[bytes]) -> None:
        decode = self._codec.decode
        for line in lines:
            try:
                message = decode(line)
            except msgspec.DecodeError:
                if line.strip():
                    self._violation(f"non JSON-RPC output on stdout: {line[:200]!r}")
                    return
                continue
            self.on_message(message, line)
            if self._broken:
                return

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd == 1:
            rest = self._splitter.flush()
            if rest and not self._broken:
                self._deliver([rest])
            _resolve(self.stdout_closed)
        elif fd == 2:
            self.stderr.close()
            _resolve(self.stderr_closed)
        elif fd == 0:
            self._wake_writers()

    def process_exited(self) -> None:
        assert self.transport is not None
        if not self.exited.done():
            self.exited.set_result(self.transport.get_returncode())  # type: ignore[arg-type]

    def pause_writing(self) -> None:
        if self._resumed is None:
            self._resumed = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        self._wake_writers()

    # ---- writing ------------------------------------------------------------------

    @property
    def writing_paused(self) -> bool:
        return self._resumed is not None

    def send(self, message: msgspec.Struct) -> None:
        """Write one message to the child's stdin; BrokenPipeError when stdin is closed."""
        if self._stdin is None or self._stdin.is_closing():
            raise BrokenPipeError
        self._stdin.write(self._codec.encode(message))

    async def drain(self) -> None:
        """Wait while the child is not reading (only big messages fill the pipe)."""
        if self._resumed is not None:
            await asyncio.shield(self._resumed)
        if self._stdin is None or self._stdin.is_closing():
            raise BrokenPipeError

    # ---- output ends ----------------------------------------------------------------

    async def wait_output_closed(self, timeout: float) -> bool:
        """Wait for end of file on stdout and stderr; False when something still holds them after `timeout`."""
        done, _ = await asyncio.wait([self.stdout_closed, self.stderr_closed], timeout=timeout)
        return len(done) == 2

    def close(self) -> None:
        """Close every pipe; the process must have exited (the transport does not kill it then)."""
        if self.transport is not None:
            self.transport.close()
        self._wake_writers()

    def _violation(self, what: str) -> None:
        self._broken = True
        self.on_violation(what)

    def _wake_writers(self) -> None:
        if self._resumed is not None:
            _resolve(self._resumed)
            self._resumed = None


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
