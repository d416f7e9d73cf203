"""Where a job's callback may go: public addresses only, unless QUALIA_CALLBACK_ALLOW_PRIVATE is set.

A `callback_url` makes the server POST to an address the caller chose (server-side request
forgery if that address is the server's own loopback, the cloud metadata service or the
private network). An address literal in a refused range is 422 when the job is submitted; a
name is resolved when the callback is delivered, every address it resolves to is checked, and
the connection goes to the checked address (so a second lookup cannot switch it). Tests run
with a real receiver on 127.0.0.1 and the system resolver (`localhost`): no other network.
"""
from __future__ import annotations

import ipaddress
import re

import pytest

from qualia.kernel.jobs import JobSettings
from qualia.kernel.jobs.destinations import refused_range
from tests.conftest import problem_plugin

from ..jobs_support import Receiver, wait_for
from .conftest import error_of, json_of
from .test_jobs_api import FAST, submit
from .test_webhooks import configure

REFUSED = {
    "http://127.0.0.1:8080/hook": "loopback",
    "http://127.9.9.9/hook": "loopback",
    "http://[::1]:8080/hook": "loopback",
    "http://169.254.169.254/latest/meta-data/": "link-local",
    "http://[fe80::1]/hook": "link-local",
    "http://10.0.0.7/hook": "private",
    "http://172.16.5.4/hook": "private",
    "http://192.168.1.1/hook": "private",
    "http://[fd00::1]/hook": "private",
    "http://0.0.0.0:8080/hook": "unspecified",
    "http://224.0.0.1/hook": "multicast",
    "http://[ff02::1]/hook": "multicast",
    "http://240.0.0.1/hook": "reserved",
    "http://100.64.0.1/hook": "not publicly routable",
    "http://[::ffff:127.0.0.1]/hook": "loopback",
    "http://2130706433/hook": "loopback",  # 127.0.0.1 as one decimal number
}


@pytest.mark.parametrize("url", sorted(REFUSED))
async def test_a_callback_to_a_non_public_address_is_refused_when_submitted(serve, plugin_dir, url):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(setup=configure(JobSettings(**{**FAST, "callback_allow_private": False})))
    async with served.session.post("/jobs", json={"plugin": "echo", "text": "t", "callback_url": url}) as response:
        error = await error_of(response, 422, "invalid_request")
    assert error["details"]["field"] == "$.callback_url"
    assert REFUSED[url] in error["message"] and "QUALIA_CALLBACK_ALLOW_PRIVATE" in error["message"]
    async with served.session.get("/jobs") as response:
        assert (await json_of(response))["jobs"] == []  # nothing was queued


async def test_a_name_that_resolves_to_loopback_is_never_called(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    receiver = await Receiver().start()
    try:
        served = await serve(setup=configure(JobSettings(**{**FAST, "callback_allow_private": False})))
        url = receiver.url.replace("127.0.0.1", "localhost")
        accepted = await submit(served, {"plugin": "echo", "text": "t", "callback_url": url})  # a name: 202
        job = await wait_for(lambda: _settled(served, accepted["job_id"]), timeout=10)
    finally:
        await receiver.stop()
    assert receiver.requests == []
    callback = job["callback"]
    assert callback["state"] == "failed" and callback["attempts"] == 1  # refused at once, not retried
    assert re.search(r"localhost resolves to (127\.0\.0\.1|::1) \(loopback\)", callback["error"]), callback
    assert "QUALIA_CALLBACK_ALLOW_PRIVATE" in callback["error"]


async def test_with_allow_private_a_name_is_called_at_its_resolved_address(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    receiver = await Receiver().start()
    try:
        served = await serve(setup=configure(JobSettings(**{**FAST, "callback_allow_private": True})))
        url = receiver.url.replace("127.0.0.1", "localhost")
        accepted = await submit(served, {"plugin": "echo", "text": "t", "callback_url": url})
        job = await wait_for(lambda: _settled(served, accepted["job_id"]), timeout=10)
    finally:
        await receiver.stop()
    assert job["callback"]["state"] == "delivered", job["callback"]
    (_, headers, _), = receiver.requests
    assert headers["Host"] == url.split("/")[2]  # the name, though the connection went to 127.0.0.1


async def _settled(served, job_id: str) -> dict | None:
    async with served.session.get(f"/jobs/{job_id}") as response:
        job = await response.json()
    return job if job["callback"]["state"] in ("delivered", "failed") else None


def test_public_addresses_pass_and_the_setting_comes_from_the_environment():
    for public in ("93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "8.8.8.8"):
        assert refused_range(ipaddress.ip_address(public)) is None, public
    assert JobSettings.from_env({}).callback_allow_private is False
    for value, expected in (("1", True), ("true", True), ("yes", True), ("0", False), ("false", False)):
        assert JobSettings.from_env({"QUALIA_CALLBACK_ALLOW_PRIVATE": value}).callback_allow_private is expected
    with pytest.raises(ValueError, match="QUALIA_CALLBACK_ALLOW_PRIVATE"):
        JobSettings.from_env({"QUALIA_CALLBACK_ALLOW_PRIVATE": "maybe"})
