"""The live dashboard: GET /monitor (HTML + Canvas, no external asset) fed by GET /monitor/stream (SSE).

Three modules, one job each:

- `snapshot`: `Probe.take()` gathers one `Snapshot`: request rates, errors and
  latency percentiles from `RequestStats`, each plugin's supervisor status with
  RSS and CPU of its processes (psutil), the kernel's and the machine's CPU
  and memory, jobs by state with each recent job's progress and where jobs
  run (here, or the Dask cluster of `serve --cluster`), cache counters.
- `hub`: `MonitorHub` runs one producer task that takes a snapshot every
  `interval_s`, encodes it once as SSE and hands the same bytes to every
  connected client; the producer runs only while someone listens. On app
  shutdown the hub closes and every stream ends cleanly at once, so a graceful
  shutdown never waits for dashboards (the page reconnects by itself:
  EventSource, with the `retry:` hint).
- `routes`: the page, its assets and the stream (`setup_monitor`).

Stream: `retry: <ms>`, then `event: history` (the points so far, so charts
fill at once), then `event: snapshot` every second, `event: plugin` when a
plugin's state changes, and `: heartbeat` comments every `heartbeat_s`.
"""
from .hub import MONITOR, MonitorHub, Subscriber
from .routes import setup_monitor
from .snapshot import MonitorSettings, Probe, Snapshot

__all__ = ["MONITOR", "MonitorHub", "MonitorSettings", "Probe", "Snapshot", "Subscriber", "setup_monitor"]
