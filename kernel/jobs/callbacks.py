"""Callback delivery: POST a finished job to its `callback_url`, signed, with retries.

Each delivery is its own task, so a slow or failing receiver never delays a
job or another delivery; a semaphore bounds only the POSTs in flight (a
delivery waiting for its next attempt holds nothing). Every attempt is
recorded in the store before the next one is scheduled, so a restarted
server resumes a pending delivery where it stopped (at-least-once: the
receiver deduplicates on `X-Qualia-Delivery`, the job id).

The body is the job's JSON (as GET /jobs/{id} shows it, without the callback's
own state), signed `X-Qualia-Signature: sha256=<hex>` with the callback
secret; with no secret configured it is sent unsigned, as GitHub does.
Any answer but 2xx, a connection error or a timeout is a failed attempt;
after `callback_attempts` of them the delivery is `failed` with the reason.
A destination that is not a public address (`destinations.py`) fails the
delivery at once, unless `callback_allow_private` (QUALIA_CALLBACK_ALLOW_PRIVATE).
"""
from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable

import aiohttp

from .. import __version__
from ..signatures import sign_body
from yarl import URL

from .destinations import CheckedResolver, RefusedDestination, check_literal, is_refusal
from .settings import JobSettings
from .store import Job, JobStore, JobStoreError
from .view import encode, job_result, job_view

__all__ = ["CallbackSender", "backoff_delay"]

log = logging.getLogger("qualia.jobs.callbacks")

SIGNATURE_HEADER = "X-Qualia-Signature"
DELIVERY_HEADER = "X-Qualia-Delivery"
ATTEMPT_HEADER = "X-Qualia-Attempt"
REASON_CHARS = 300


def backoff_delay(failures: int, settings: JobSettings, rand: Callable[[], float] = random.random) -> float:
    """Seconds before the next attempt after `failures` failed ones: exponential, capped, "equal jitter".

    Half the delay is fixed and half random, so retries of many deliveries
    spread out but never come sooner than half the nominal backoff.
    """
    nominal = min(settings.callback_backoff_max_s,
                  settings.callback_backoff_s * settings.callback_backoff_factor ** max(0, failures - 1))
    return nominal / 2 + rand() * nominal / 2


class CallbackSender:
    """Delivers the pending callbacks this owner has claimed; started and stopped with its runner."""

    def __init__(self, store: JobStore, settings: JobSettings, owner: str,
                 on_change: Callable[[str], None] = lambda job_id: None) -> None:
        self.store = store
        self.settings = settings
        self.owner = owner
        self._on_change = on_change
        self._session: aiohttp.ClientSession | None = None
        self._resolver: CheckedResolver | None = None
        self._slots = asyncio.Semaphore(settings.callback_concurrency)
        self._tasks: dict[str, asyncio.Task[None]] = {}

    @property
    def active(self) -> int:
        return len(self._tasks)

    async def start(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self.settings.callback_timeout_s)
        # Every name is resolved by CheckedResolver and the connection goes to the address it checked.
        self._resolver = None if self.settings.callback_allow_private else CheckedResolver()
        connector = aiohttp.TCPConnector(resolver=self._resolver)
        self._session = aiohttp.ClientSession(timeout=timeout, connector=connector,
                                              headers={"User-Agent": f"qualia/{__version__}"})

    async def stop(self) -> None:
        """Cancel deliveries in progress and give them back to the store for the next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        try:
            self.store.release_callbacks(self.owner)
        except JobStoreError as exc:
            log.error("could not release pending callbacks: %s", exc)
        if self._session is not None:
            await self._session.close()
            self._session = None
        if self._resolver is not None:  # ours, so the connector leaves it open
            await self._resolver.close()
            self._resolver = None

    def claim(self) -> None:
        """Take every pending delivery nobody holds and start a task for each."""
        if self._session is None:
            return
        try:
            jobs = self.store.claim_callbacks(self.owner, self.settings.lease_s)
        except JobStoreError as exc:
            log.error("could not claim callbacks: %s", exc)
            return
        for job in jobs:
            if job.id not in self._tasks:
                task = asyncio.get_running_loop().create_task(self._deliver(job), name=f"callback-{job.id}")
                self._tasks[job.id] = task
                task.add_done_callback(lambda _, job_id=job.id: self._tasks.pop(job_id, None))

    async def _deliver(self, job: Job) -> None:
        assert job.callback_url is not None
        body = encode(job_view(job, job_result(self.store, job), with_callback=False))
        headers = {"Content-Type": "application/json", DELIVERY_HEADER: job.id}
        if self.settings.callback_secret:
            headers[SIGNATURE_HEADER] = sign_body(self.settings.callback_secret, body)
        failures = job.callback_attempts
        due = job.callback_next or 0.0
        while True:
            wait = due - time.time()
            if wait > 0:
                await asyncio.sleep(wait)
            refused: str | None = None
            async with self._slots:
                try:
                    reason = await self._post(job.callback_url, body, {**headers, ATTEMPT_HEADER: str(failures + 1)})
                except RefusedDestination as exc:
                    reason = refused = str(exc)
            failures += 1
            try:
                if refused is not None:  # not a transient failure: never retried
                    self.store.callback_finished(job.id, self.owner, delivered=False, error=f"refused: {refused}")
                    log.warning("callback of job %s refused: %s", job.id, refused)
                    return
                if reason is None:
                    self.store.callback_finished(job.id, self.owner, delivered=True, error=None)
                    log.info("callback of job %s delivered to %s (attempt %d)", job.id, job.callback_url, failures)
                    return
                if failures >= self.settings.callback_attempts:
                    message = f"gave up after {failures} attempts: {reason}"
                    self.store.callback_finished(job.id, self.owner, delivered=False, error=message)
                    log.warning("callback of job %s to %s failed: %s", job.id, job.callback_url, message)
                    return
                due = time.time() + backoff_delay(failures, self.settings)
                if self.store.callback_attempted(job.id, self.owner, error=reason, next_at=due) is None:
                    return  # no longer ours (our lease lapsed and another runner took it)
                log.info("callback of job %s to %s failed (attempt %d): %s; retrying", job.id, job.callback_url,
                         failures, reason)
            except JobStoreError as exc:
                log.error("callback of job %s: %s", job.id, exc)
                return
            finally:
                self._on_change(job.id)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str | None:
        """One attempt: None when delivered, else the reason it was not; RefusedDestination when the
        destination is not a public address (and private ones are not allowed)."""
        assert self._session is not None
        if not self.settings.callback_allow_private:
            problem = check_literal(URL(url).host or "")  # address literals never reach the resolver
            if problem is not None:
                raise RefusedDestination(problem)
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return None
                text = (await response.content.read(REASON_CHARS)).decode("utf-8", "replace").strip()
                reason = f"HTTP {response.status} {response.reason or ''}".strip()
                return f"{reason}: {text}" if text else reason
        except asyncio.TimeoutError:
            return f"no answer within {self.settings.callback_timeout_s:g} s"
        except aiohttp.ClientError as exc:
            refused = is_refusal(exc)
            if refused is not None:
                raise refused from None
            return f"{type(exc).__name__}: {exc}"[:REASON_CHARS]
