"""The endpoint alone (a fake writer instead of a process): ids, answers matched by id,
deadlines with `$/cancel`, progress, late answers, protocol violations, and the code table
that rebuilds errors from the wire."""
from __future__ import annotations

import asyncio

import msgspec
import pytest

from qualia.kernel.errors import InvalidInput, PluginFault, PluginOutOfMemory, PluginTimeout
from qualia.kernel.process import Endpoint, error_from_wire
from qualia.plugin_sdk import protocol as p

CODEC = p.LineCodec()


class FakeWriter:
    def __init__(self) -> None:
        self.sent: list[msgspec.Struct] = []
        self.writing_paused = False
        self.closed = False

    def send(self, message: msgspec.Struct) -> None:
        if self.closed:
            raise BrokenPipeError
        self.sent.append(message)

    async def drain(self) -> None:
        return None


class Harness:
    def __init__(self) -> None:
        self.writer = FakeWriter()
        self.violations: list[str] = []
        self.endpoint = Endpoint("demo", self.writer, on_violation=self.violations.append,
                                 stderr_tail=lambda: ["last words"], max_memory_mb=64)

    def answer(self, raw: bytes) -> None:
        self.endpoint.receive(CODEC.decode(raw), raw)

    async def sent_request(self, index: int = 0) -> p.Request:
        while len(self.writer.sent) <= index:
            await asyncio.sleep(0)
        return self.writer.sent[index]


@pytest.fixture
def harness() -> Harness:
    return Harness()


async def test_answers_are_matched_to_requests_by_id(harness):
    first = asyncio.create_task(harness.endpoint.request("run", {"n": 1}, timeout=5))
    second = asyncio.create_task(harness.endpoint.request("run", {"n": 2}, timeout=5))
    one, two = await harness.sent_request(0), await harness.sent_request(1)
    assert (one.id, two.id) == (1, 2) and harness.endpoint.busy
    harness.answer(b'{"jsonrpc":"2.0","id":2,"result":"second"}')
    harness.answer(b'{"jsonrpc":"2.0","id":1,"result":"first"}')
    assert bytes(await first) == b'"first"' and bytes(await second) == b'"second"'
    assert not harness.endpoint.busy


async def test_a_deadline_raises_a_timeout_and_sends_cancel(harness):
    with pytest.raises(PluginTimeout) as caught:
        await harness.endpoint.request("run", None, timeout=0.01)
    assert caught.value.details["timeout_s"] == 0.01 and caught.value.details["stderr_tail"] == ["last words"]
    request, cancel = harness.writer.sent
    assert cancel.method == p.NOTIFY_CANCEL and cancel.params.id == request.id
    harness.answer(b'{"jsonrpc":"2.0","id":1,"result":"too late"}')  # a late answer is dropped
    assert harness.violations == []


async def test_a_cancelled_caller_sends_cancel(harness):
    call = asyncio.create_task(harness.endpoint.request("run", None, timeout=5))
    request = await harness.sent_request()
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert harness.writer.sent[-1].method == p.NOTIFY_CANCEL and harness.writer.sent[-1].params.id == request.id


async def test_progress_reaches_the_callback_of_its_request(harness):
    seen = []
    call = asyncio.create_task(harness.endpoint.request("run", None, timeout=5, progress=seen.append))
    await harness.sent_request()
    harness.answer(b'{"jsonrpc":"2.0","method":"$/progress","params":{"id":1,"done":3,"total":10}}')
    harness.answer(b'{"jsonrpc":"2.0","method":"$/progress","params":{"id":1,"done":"bad"}}')  # dropped
    harness.answer(b'{"jsonrpc":"2.0","id":1,"result":null}')
    await call
    assert [(s.done, s.total) for s in seen] == [(3, 10)]


async def test_a_message_that_is_neither_answer_nor_notification_is_a_violation(harness):
    harness.answer(b'{"jsonrpc":"2.0","id":7}')
    assert harness.violations and "neither a response nor a notification" in harness.violations[0]


async def test_fail_all_fails_every_pending_request(harness):
    calls = [asyncio.create_task(harness.endpoint.request("run", None, timeout=5)) for _ in range(3)]
    await harness.sent_request(2)
    harness.endpoint.fail_all(PluginFault("gone"))
    for call in calls:
        with pytest.raises(PluginFault, match="gone"):
            await call


async def test_a_closed_stdin_is_a_broken_pipe_and_leaves_nothing_pending(harness):
    harness.writer.closed = True
    with pytest.raises(BrokenPipeError):
        await harness.endpoint.request("run", None, timeout=5)
    assert not harness.endpoint.busy
    assert harness.endpoint.notify(p.NOTIFY_EXIT) is False


# ---- the code table -------------------------------------------------------------------

@pytest.mark.parametrize(("code", "error", "status"), [
    (-32700, PluginFault, 502), (-32600, PluginFault, 502), (-32601, PluginFault, 502),
    (-32602, InvalidInput, 422), (-32603, PluginFault, 502), (-32000, PluginFault, 502), (-32800, PluginFault, 502),
])
def test_wire_codes_map_to_error_classes(code, error, status):
    rebuilt = error_from_wire("demo", p.ErrorObject(code=code, message="boom"), stderr_tail=[])
    assert type(rebuilt) is error and rebuilt.status == status
    assert "'demo'" in rebuilt.message and "boom" in rebuilt.message


def test_invalid_params_carry_the_plugins_details():
    rebuilt = error_from_wire("demo", p.ErrorObject(code=-32602, message="text is empty", data={"key": "text"}),
                              stderr_tail=[])
    assert rebuilt.details == {"plugin": "demo", "key": "text"}


def test_a_memory_error_answer_names_the_ceiling():
    rebuilt = error_from_wire("demo", p.ErrorObject(code=-32603, message="MemoryError: ", data="Traceback ..."),
                              stderr_tail=[], max_memory_mb=64)
    assert isinstance(rebuilt, PluginOutOfMemory) and rebuilt.status == 502
    assert "64 MiB" in rebuilt.message and "max_memory_mb" in rebuilt.message
    assert rebuilt.details["traceback"] == "Traceback ..."
