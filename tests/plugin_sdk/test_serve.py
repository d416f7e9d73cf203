"""`serve()`: a real plugin process written with the SDK, spoken to over its pipes.

The plugin below is written into a temporary folder and started with this
interpreter; the tests play the kernel's part by hand, one JSON line at a time.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

PROJECT = Path(__file__).resolve().parents[2]

MANIFEST = """\
id = "echo_plugin"
name = "Echo"
version = "3.2.1"
kind = "analyzer"
command = ["{python}", "plugin.py"]

[parameters.mode]
type = "string"
default = "echo"
choices = ["echo", "noisy", "crash", "reject", "progress"]

[parameters.repeat]
type = "integer"
default = 1
min = 1
max = 5
"""

PLUGIN = """\
import os
import subprocess
import sys

from qualia.plugin_sdk import AnalyzerPlugin, InputError, serve


class Echo(AnalyzerPlugin):
    def analyze(self, document, config, inputs):
        mode = config["mode"]
        if mode == "noisy":
            print("noise from print()")
            sys.stdout.write("noise from sys.stdout\\n")
            sys.stdout.flush()
            os.write(1, b"noise from fd 1\\n")
            subprocess.run([sys.executable, "-c", "print('noise from a grandchild')"], check=True)
        elif mode == "crash":
            return {"ratio": 1 / len(document.metadata)}
        elif mode == "reject":
            raise InputError("this text is too short", {"length": len(document.text)})
        elif mode == "progress":
            self.progress(1, 2)
            self.progress(2, 2)
        return {"text": document.text * config["repeat"], "language": document.language,
                "config": config, "inputs": inputs}


if __name__ == "__main__":
    serve(Echo)
"""


class PluginPipe:
    """The kernel's side of the conversation, by hand: write a line, read a line."""

    def __init__(self, folder: Path) -> None:
        env = dict(os.environ, PYTHONPATH=str(PROJECT))
        self.proc = subprocess.Popen([sys.executable, "plugin.py"], cwd=folder, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.next_id = 0

    def send_line(self, line: bytes) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write(line)
        self.proc.stdin.flush()

    def send(self, message: dict[str, Any]) -> None:
        self.send_line(json.dumps(message).encode("utf-8") + b"\n")

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line.endswith(b"\n"), f"no complete line on stdout (got {line!r}); stderr: {self.stderr_now()}"
        return json.loads(line)

    def request(self, method: str, params: Any = None) -> dict[str, Any]:
        self.next_id += 1
        self.send({"jsonrpc": "2.0", "id": self.next_id, "method": method, "params": params})
        return self.read()

    def run(self, text: str = "olá", **config: Any) -> dict[str, Any]:
        return self.request("run", {"document": {"text": text}, "config": config})

    def finish(self, timeout: float = 10) -> tuple[int, bytes, bytes]:
        """Close stdin and collect the exit code with everything left on stdout and stderr."""
        out, err = self.proc.communicate(timeout=timeout)
        return self.proc.returncode, out, err

    def stderr_now(self) -> str:
        if self.proc.poll() is None:
            return "(still running)"
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode("utf-8", "replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()
        for pipe in (self.proc.stdin, self.proc.stdout, self.proc.stderr):
            if pipe is not None:
                try:
                    pipe.close()
                except BrokenPipeError:
                    pass


@pytest.fixture(scope="module")
def plugin_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("echo_plugin")
    (folder / "plugin.toml").write_text(MANIFEST, encoding="utf-8")
    (folder / "plugin.py").write_text(PLUGIN, encoding="utf-8")
    return folder


@pytest.fixture
def plugin(plugin_folder: Path) -> Iterator[PluginPipe]:
    pipe = PluginPipe(plugin_folder)
    yield pipe
    pipe.close()


@pytest.fixture
def ready(plugin: PluginPipe) -> PluginPipe:
    """A plugin past the handshake."""
    assert "result" in plugin.request("initialize", {"protocol": "qualia/1"})
    return plugin


# ---- handshake -------------------------------------------------------------------

def test_handshake_answers_with_the_manifest_identity(plugin: PluginPipe) -> None:
    answer = plugin.request("initialize", {"protocol": "qualia/1"})
    assert answer == {"jsonrpc": "2.0", "id": 1,
                      "result": {"protocol": "qualia/1", "id": "echo_plugin", "version": "3.2.1"}}


def test_handshake_with_another_protocol_is_an_invalid_request(plugin: PluginPipe) -> None:
    answer = plugin.request("initialize", {"protocol": "qualia/99"})
    assert answer["id"] == 1
    assert answer["error"]["code"] == -32600
    assert "qualia/99" in answer["error"]["message"]


def test_handshake_without_params_is_invalid_params(plugin: PluginPipe) -> None:
    assert plugin.request("initialize")["error"]["code"] == -32602


# ---- run ---------------------------------------------------------------------------

def test_run_returns_the_result_with_defaults_filled(ready: PluginPipe) -> None:
    text = "reunião\nconfirmação \"ação\"\r\n🎙"
    answer = ready.request("run", {"document": {"text": text, "language": "pt"}, "config": {"repeat": 2},
                                   "inputs": {"segments": [1, 2]}})
    assert answer == {"jsonrpc": "2.0", "id": 2, "result": {"result": {
        "text": text * 2, "language": "pt", "config": {"mode": "echo", "repeat": 2},
        "inputs": {"segments": [1, 2]}}}}


def test_string_ids_are_echoed(ready: PluginPipe) -> None:
    ready.send({"jsonrpc": "2.0", "id": "abc-1", "method": "run", "params": {"document": {"text": "x"}}})
    assert ready.read()["id"] == "abc-1"


def test_progress_notifications_come_before_the_answer(ready: PluginPipe) -> None:
    ready.send({"jsonrpc": "2.0", "id": 41, "method": "run",
                "params": {"document": {"text": "x"}, "config": {"mode": "progress"}}})
    first, second, answer = ready.read(), ready.read(), ready.read()
    assert first == {"jsonrpc": "2.0", "method": "$/progress", "params": {"id": 41, "done": 1, "total": 2}}
    assert second["params"] == {"id": 41, "done": 2, "total": 2}
    assert answer["id"] == 41 and "result" in answer


def test_everything_printed_by_plugin_code_goes_to_stderr(ready: PluginPipe) -> None:
    answer = ready.run(mode="noisy")
    assert answer["result"]["result"]["text"] == "olá", "the answer is the next line on stdout, not the noise"
    assert ready.run("again")["result"]["result"]["text"] == "again"
    ready.send({"jsonrpc": "2.0", "method": "exit"})
    code, rest_of_stdout, stderr = ready.finish()
    assert code == 0
    assert rest_of_stdout == b""
    for noise in (b"noise from print()", b"noise from sys.stdout", b"noise from fd 1", b"noise from a grandchild"):
        assert noise in stderr


def test_stdout_carries_only_json_rpc_lines(plugin_folder: Path) -> None:
    """Everything on stdout, read to the end, parses as JSON-RPC messages, one per line."""
    requests = [
        {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {"protocol": "qualia/1"}},
        {"jsonrpc": "2.0", "id": 2, "method": "run",
         "params": {"document": {"text": "a"}, "config": {"mode": "noisy"}}},
        {"jsonrpc": "2.0", "id": 3, "method": "run",
         "params": {"document": {"text": "b"}, "config": {"mode": "crash"}}},
        {"jsonrpc": "2.0", "id": 4, "method": "shutdown"},
    ]
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    stdin = b"".join(json.dumps(r).encode() + b"\n" for r in requests)
    done = subprocess.run([sys.executable, "plugin.py"], cwd=plugin_folder, env=env, input=stdin,
                          capture_output=True, timeout=10)
    assert done.returncode == 0
    lines = done.stdout.split(b"\n")
    assert lines.pop() == b"", "stdout ends with a newline"
    messages = [json.loads(line) for line in lines]
    assert all(m["jsonrpc"] == "2.0" for m in messages)
    assert [m["id"] for m in messages] == [1, 2, 3, 4]
    assert [("result" in m, "error" in m) for m in messages] == [(True, False), (True, False), (False, True),
                                                                  (True, False)]
    assert messages[3]["result"] is None
    assert b"noise from fd 1" in done.stderr


# ---- errors --------------------------------------------------------------------------

def test_an_exception_in_plugin_code_becomes_an_error_with_the_traceback(ready: PluginPipe) -> None:
    answer = ready.run(mode="crash")
    assert answer["id"] == 2
    error = answer["error"]
    assert error["code"] not in (-32602, -32700, -32600, -32601), "a plugin fault, not the caller's"
    assert "ZeroDivisionError" in error["message"]
    assert "Traceback (most recent call last)" in error["data"]
    assert "plugin.py" in error["data"] and "1 / len(document.metadata)" in error["data"]


def test_the_process_keeps_serving_after_an_exception(ready: PluginPipe) -> None:
    assert "error" in ready.run(mode="crash")
    assert ready.run("still here")["result"]["result"]["text"] == "still here"
    assert ready.proc.poll() is None


def test_input_error_is_invalid_params(ready: PluginPipe) -> None:
    answer = ready.run("hi", mode="reject")
    assert answer["error"] == {"code": -32602, "message": "this text is too short", "data": {"length": 2}}
    assert ready.run("ok")["result"]["result"]["text"] == "ok"


@pytest.mark.parametrize(("config", "key"), [({"repeat": 0}, "repeat"), ({"repeat": "2"}, "repeat"),
                                             ({"mode": "loud"}, "mode"), ({"volume": 11}, "volume")])
def test_an_invalid_config_is_invalid_params_naming_the_key(ready: PluginPipe, config: dict[str, Any],
                                                            key: str) -> None:
    error = ready.run(**config)["error"]
    assert error["code"] == -32602
    assert error["data"] == {"key": key}
    assert repr(key) in error["message"]


@pytest.mark.parametrize("params", [None, {}, {"document": {}}, {"document": {"text": 1}},
                                    {"document": {"text": "x", "language": "fr"}}, {"document": "x"}])
def test_malformed_run_params_are_invalid_params(ready: PluginPipe, params: Any) -> None:
    assert ready.request("run", params)["error"]["code"] == -32602


def test_an_unknown_method_is_method_not_found(ready: PluginPipe) -> None:
    answer = ready.request("summarize", {})
    assert answer["id"] == 2
    assert answer["error"]["code"] == -32601
    assert "summarize" in answer["error"]["message"]
    assert "result" in ready.run()


def test_a_malformed_line_is_a_parse_error_with_null_id(ready: PluginPipe) -> None:
    ready.send_line(b"this is not json {\n")
    answer = ready.read()
    assert answer["id"] is None
    assert answer["error"]["code"] == -32700
    assert "result" in ready.run(), "the process keeps serving"


@pytest.mark.parametrize("line", [b"42\n", b"[1, 2]\n", b'{"jsonrpc": "2.0", "id": 5, "method": 7}\n'])
def test_json_that_is_not_a_message_is_an_invalid_request_with_null_id(ready: PluginPipe, line: bytes) -> None:
    ready.send_line(line)
    answer = ready.read()
    assert answer["id"] is None
    assert answer["error"]["code"] == -32600
    assert "result" in ready.run()


def test_blank_lines_responses_and_unknown_notifications_are_ignored(ready: PluginPipe) -> None:
    ready.send_line(b"\n   \n")
    ready.send({"jsonrpc": "2.0", "id": 99, "result": "a stray response"})
    ready.send({"jsonrpc": "2.0", "method": "$/cancel", "params": {"id": 1}})
    ready.send({"jsonrpc": "2.0", "method": "$/something"})
    answer = ready.run("next")
    assert answer["id"] == 2 and answer["result"]["result"]["text"] == "next"


# ---- the end -----------------------------------------------------------------------

def test_shutdown_then_exit_ends_the_process_with_code_0(ready: PluginPipe) -> None:
    assert ready.request("shutdown") == {"jsonrpc": "2.0", "id": 2, "result": None}
    ready.send({"jsonrpc": "2.0", "method": "exit"})
    assert ready.proc.wait(timeout=5) == 0
    code, rest, _ = ready.finish()
    assert code == 0 and rest == b""


def test_exit_notification_alone_ends_the_process(ready: PluginPipe) -> None:
    ready.send({"jsonrpc": "2.0", "method": "exit"})
    assert ready.proc.wait(timeout=5) == 0


def test_end_of_stdin_ends_the_process_with_code_0(ready: PluginPipe) -> None:
    assert ready.proc.stdin is not None
    ready.proc.stdin.close()
    assert ready.proc.wait(timeout=5) == 0


def test_end_of_stdin_before_any_request(plugin: PluginPipe) -> None:
    code, out, err = plugin.finish()
    assert code == 0 and out == b"", err


def test_a_plugin_without_manifest_fails_loudly(tmp_path: Path) -> None:
    (tmp_path / "plugin.py").write_text(PLUGIN, encoding="utf-8")
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    done = subprocess.run([sys.executable, "plugin.py"], cwd=tmp_path, env=env, input=b"", capture_output=True,
                          timeout=10)
    assert done.returncode != 0
    assert done.stdout == b""
    assert b"plugin.toml" in done.stderr


def test_the_plugin_code_is_found_beside_its_manifest(plugin_folder: Path, tmp_path: Path) -> None:
    """Started from another working directory, the plugin still finds plugin.toml next to its module."""
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    request = b'{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocol":"qualia/1"}}\n'
    done = subprocess.run([sys.executable, str(plugin_folder / "plugin.py")], cwd=tmp_path, env=env, input=request,
                          capture_output=True, timeout=10)
    assert json.loads(done.stdout)["result"]["id"] == "echo_plugin"
