"""Plugin processes, in layers (as python-lsp-jsonrpc and jupyter_client split them):

- `framing`: bytes on the pipes <-> JSON-RPC messages, one per line (64 MiB lines);
- `endpoint`: ids, futures, per-request deadlines, `$/cancel`, errors rebuilt from the wire;
- `child`: spawn in an own session under a memory ceiling, the stop ladder, exit detection;
- `reaper` and `ledger`: a plugin's process group dies with it, also after a killed kernel;
- `restart`: the restart policy (intensity in a window, backoff);
- `plugin_process`: `PluginProcess`, which composes them for one plugin process.

The supervisor (`kernel/supervisor.py`) composes PluginProcess, RestartPolicy and the breaker.
"""
from .endpoint import Endpoint, ProgressCallback, error_from_wire
from .framing import READ_LIMIT, ChildPipes, LineSplitter, StderrTail
from .ledger import KERNEL_ID_VARIABLE, GroupLedger, reap_leftovers
from .plugin_process import PluginProcess
from .reaper import SUBREAPER
from .restart import RestartDecision, RestartPolicy, Verdict

__all__ = ["KERNEL_ID_VARIABLE", "READ_LIMIT", "SUBREAPER", "ChildPipes", "Endpoint", "GroupLedger", "LineSplitter",
           "PluginProcess", "ProgressCallback", "RestartDecision", "RestartPolicy", "StderrTail", "Verdict",
           "error_from_wire", "reap_leftovers"]
