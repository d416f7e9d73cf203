"""Durable jobs: a SQLite job store, a runner that feeds the kernel, signed callbacks.

`JobStore` keeps jobs (and each document's outcome) in `QUALIA_HOME/jobs.sqlite3`;
`JobRunner` takes queued jobs a few at a time, recovers those a killed server
left running, and hands finished ones with a `callback_url` to `CallbackSender`.
"""
from .callbacks import CallbackSender, backoff_delay
from .events import JobEvents, Subscription
from .runner import JOB_WORK, ExecutorSource, JobRunner, owner_is_dead
from .settings import JobSettings
from .spec import JobRequest, JobSpec, parse_job_request, plan_job
from .store import ACTIVE_STATES, FINAL_STATES, Job, JobStore, JobStoreError
from .view import JobView, error_body, job_result, job_view

STORE_FILE = "jobs.sqlite3"
"""The job store's file name inside QUALIA_HOME."""

__all__ = [
    "ACTIVE_STATES",
    "ExecutorSource",
    "JOB_WORK",
    "FINAL_STATES",
    "STORE_FILE",
    "CallbackSender",
    "Job",
    "JobEvents",
    "JobRequest",
    "JobRunner",
    "JobSettings",
    "JobSpec",
    "JobStore",
    "JobStoreError",
    "JobView",
    "Subscription",
    "backoff_delay",
    "error_body",
    "job_result",
    "job_view",
    "owner_is_dead",
    "parse_job_request",
    "plan_job",
]
