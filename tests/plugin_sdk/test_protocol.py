"""Wire protocol `qualia/1`: the JSON-RPC error table and the one-message-per-line codec."""
from __future__ import annotations

import json

import msgspec
import pytest

from qualia.plugin_sdk import errors
from qualia.plugin_sdk import protocol as p
from qualia.plugin_sdk.document import Document, Segment
from qualia.plugin_sdk.errors import (Cancelled, InputError, InternalError, InvalidParams, InvalidRequest, MethodNotFound, ParseError,
                               RpcError)

# ---- error codes ---------------------------------------------------------------

ERROR_TABLE = [
    (-32700, ParseError),
    (-32600, InvalidRequest),
    (-32601, MethodNotFound),
    (-32602, InvalidParams),
    (-32603, InternalError),
    (-32800, Cancelled),  # LSP's RequestCancelled: the answer to a run the kernel cancelled
]


@pytest.mark.parametrize(("code", "cls"), ERROR_TABLE)
def test_each_error_class_carries_its_json_rpc_code(code: int, cls: type[RpcError]) -> None:
    assert cls.code == code
    assert cls("boom").code == code
    assert issubclass(cls, RpcError)


def test_input_error_is_invalid_params_so_the_caller_is_blamed() -> None:
    assert InputError is InvalidParams
    assert InputError("text too short").code == -32602


def test_the_base_error_is_an_implementation_defined_server_error() -> None:
    assert RpcError.code == -32000


def test_error_keeps_message_and_data() -> None:
    error = InvalidParams("bad value", {"key": "top_n"})
    assert str(error) == "bad value"
    assert error.message == "bad value"
    assert error.data == {"key": "top_n"}
    assert InternalError("x").data is None


@pytest.mark.parametrize(("code", "cls"), ERROR_TABLE)
def test_from_wire_rebuilds_the_right_class(code: int, cls: type[RpcError]) -> None:
    error = RpcError.from_wire(code, "what happened", {"detail": 1})
    assert type(error) is cls
    assert error.code == code
    assert error.message == "what happened"
    assert error.data == {"detail": 1}


@pytest.mark.parametrize("code", [-32000, -32099, 1, 42])
def test_from_wire_keeps_an_unknown_code(code: int) -> None:
    error = RpcError.from_wire(code, "plugin specific", "traceback text")
    assert type(error) is RpcError
    assert error.code == code
    assert error.message == "plugin specific"
    assert error.data == "traceback text"
    assert RpcError.code == -32000, "an instance's code must not leak into the class"


def test_from_wire_data_defaults_to_none() -> None:
    assert RpcError.from_wire(-32601, "no such method").data is None


def test_error_table_has_no_other_entries() -> None:
    assert {code: cls for code, cls in ERROR_TABLE} == errors._BY_CODE


# ---- LineCodec -------------------------------------------------------------------

@pytest.fixture
def codec() -> p.LineCodec:
    return p.LineCodec()


def test_one_message_is_one_newline_terminated_line(codec: p.LineCodec) -> None:
    line = bytes(codec.encode(p.Request(id=1, method="initialize", params=p.InitializeParams(protocol=p.PROTOCOL))))
    assert line.endswith(b"\n")
    assert line.count(b"\n") == 1
    assert json.loads(line) == {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocol": "qualia/1"}}


@pytest.mark.parametrize("text", ["two\nlines", "windows\r\nline", "\n", "tab\tand\x00nul", "sep\u2028para\u2029"])
def test_strings_with_newlines_still_encode_to_exactly_one_line(codec: p.LineCodec, text: str) -> None:
    document = Document(text=text, metadata={"note": text}, segments=[Segment(text=text, speaker=text)])
    line = bytes(codec.encode(p.Request(id=7, method="run", params=p.RunParams(document=document))))
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert b"\r" not in line
    params = msgspec.json.decode(codec.decode(line).params, type=p.RunParams)
    assert params.document == document


def test_several_messages_concatenate_into_several_lines(codec: p.LineCodec) -> None:
    stream = b"".join(bytes(codec.encode(p.Notification(method="$/progress", params={"id": 1, "done": n})))
                      for n in range(3))
    lines = stream.splitlines()
    assert len(lines) == 3
    assert [msgspec.json.decode(codec.decode(line).params)["done"] for line in lines] == [0, 1, 2]


def test_non_ascii_text_survives_as_utf8(codec: p.LineCodec) -> None:
    text = "reunião de pesquisa, confirmação, ação 🎙"
    line = bytes(codec.encode(p.Response(id=1, result={"text": text})))
    assert text.encode("utf-8") in line  # UTF-8 JSON, not \\u escapes
    assert msgspec.json.decode(codec.decode(line).result) == {"text": text}


def test_request_round_trips_into_message(codec: p.LineCodec) -> None:
    params = p.RunParams(document=Document(id="d1", text="olá", language="pt"), config={"top_n": 5},
                         inputs={"word_frequencies": {"frequencies": []}})
    message = codec.decode(codec.encode(p.Request(id="req-1", method=p.METHOD_RUN, params=params)))
    assert message.jsonrpc == "2.0"
    assert message.id == "req-1"
    assert message.method == "run"
    assert message.result is msgspec.UNSET and message.error is msgspec.UNSET
    assert msgspec.json.decode(message.params, type=p.RunParams) == params


def test_response_round_trips_into_message(codec: p.LineCodec) -> None:
    result = p.InitializeResult(protocol=p.PROTOCOL, id="word_frequency", version="1.1.0")
    message = codec.decode(codec.encode(p.Response(id=3, result=result)))
    assert message.id == 3
    assert message.method is msgspec.UNSET and message.error is msgspec.UNSET
    assert msgspec.json.decode(message.result, type=p.InitializeResult) == result


def test_a_null_result_is_still_a_result(codec: p.LineCodec) -> None:
    """`shutdown` answers null: the receiver must still see a response, not a bare message."""
    message = codec.decode(codec.encode(p.Response(id=9, result=None)))
    assert message.result is not msgspec.UNSET
    assert msgspec.json.decode(message.result) is None


def test_error_response_round_trips_into_message(codec: p.LineCodec) -> None:
    error = p.ErrorObject(code=-32602, message="config key 'top_n': must be >= 1", data={"key": "top_n"})
    message = codec.decode(codec.encode(p.ErrorResponse(id=4, error=error)))
    assert message.id == 4
    assert message.result is msgspec.UNSET and message.method is msgspec.UNSET
    assert message.error == error
    rebuilt = RpcError.from_wire(message.error.code, message.error.message, message.error.data)
    assert isinstance(rebuilt, InvalidParams) and rebuilt.data == {"key": "top_n"}


def test_error_response_with_null_id_and_no_data(codec: p.LineCodec) -> None:
    line = bytes(codec.encode(p.ErrorResponse(id=None, error=p.ErrorObject(code=-32700, message="parse error"))))
    assert json.loads(line) == {"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}}
    message = codec.decode(line)
    assert message.id is None  # null, which is not the same as absent
    assert message.error == p.ErrorObject(code=-32700, message="parse error")


def test_notification_round_trips_into_message_without_id(codec: p.LineCodec) -> None:
    progress = p.ProgressParams(id=12, done=3, total=10)
    message = codec.decode(codec.encode(p.Notification(method=p.NOTIFY_PROGRESS, params=progress)))
    assert message.id is msgspec.UNSET
    assert message.method == "$/progress"
    assert msgspec.json.decode(message.params, type=p.ProgressParams) == progress
    exit_message = codec.decode(codec.encode(p.Notification(method=p.NOTIFY_EXIT)))
    assert exit_message.method == "exit" and exit_message.id is msgspec.UNSET


def test_visualizer_bytes_travel_as_base64(codec: p.LineCodec) -> None:
    data = bytes(range(256)) + b"\n\n"
    line = bytes(codec.encode(p.Response(id=1, result=p.VisualizerResult(media_type="image/png", data=data))))
    assert line.count(b"\n") == 1
    assert isinstance(json.loads(line)["result"]["data"], str)
    assert msgspec.json.decode(codec.decode(line).result, type=p.VisualizerResult).data == data


@pytest.mark.parametrize("line", [b"not json\n", b"{\"id\": 1,\n", b"\xff\xfe\n", b""])
def test_malformed_lines_raise_decode_error(codec: p.LineCodec, line: bytes) -> None:
    with pytest.raises(msgspec.DecodeError):
        codec.decode(line)


@pytest.mark.parametrize("line", [b"42\n", b"[]\n", b'{"id": 1, "method": 5}\n', b'{"id": [1], "method": "run"}\n'])
def test_json_that_is_not_a_message_raises_validation_error(codec: p.LineCodec, line: bytes) -> None:
    with pytest.raises(msgspec.ValidationError):
        codec.decode(line)


def test_the_codec_is_reusable(codec: p.LineCodec) -> None:
    first = bytes(codec.encode(p.Request(id=1, method="a")))
    second = bytes(codec.encode(p.Request(id=2, method="b")))
    assert codec.decode(first).method == "a" and codec.decode(second).method == "b"
    assert bytes(codec.encode(p.Request(id=1, method="a"))) == first


def test_protocol_constants() -> None:
    assert p.PROTOCOL == "qualia/1"
    assert p.MAX_LINE_BYTES == 64 * 1024 * 1024
    assert (p.METHOD_INITIALIZE, p.METHOD_RUN, p.METHOD_SHUTDOWN) == ("initialize", "run", "shutdown")
    assert (p.NOTIFY_EXIT, p.NOTIFY_CANCEL, p.NOTIFY_PROGRESS) == ("exit", "$/cancel", "$/progress")


# ---- Document ------------------------------------------------------------------

def test_document_defaults() -> None:
    document = Document(text="hello")
    assert document.id == ""
    assert document.language == "auto"
    assert document.metadata == {}
    assert document.segments is None
    Document(text="x").metadata["k"] = 1
    assert Document(text="y").metadata == {}, "defaults are not shared between documents"


def test_document_needs_only_text_on_the_wire() -> None:
    document = msgspec.json.decode(b'{"text": "oi"}', type=Document)
    assert document == Document(text="oi")
    with pytest.raises(msgspec.ValidationError, match="text"):
        msgspec.json.decode(b'{"id": "x"}', type=Document)


def test_segment_defaults_and_nullable_times() -> None:
    segment = msgspec.json.decode(b'{"text": "hi", "start": null, "end": 2.5}', type=Segment)
    assert segment == Segment(text="hi", speaker=None, start=None, end=2.5)


def test_document_language_is_checked() -> None:
    with pytest.raises(msgspec.ValidationError, match="language"):
        msgspec.json.decode(b'{"text": "x", "language": "fr"}', type=Document)


def test_run_params_default_config_and_inputs() -> None:
    params = msgspec.json.decode(b'{"document": {"text": "x"}}', type=p.RunParams)
    assert params.config == {} and params.inputs == {}
