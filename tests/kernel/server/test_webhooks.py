"""POST /webhook/{source} through a real server and a real client.

The signature is checked on the raw bytes before anything is parsed: a
missing, wrong or replayed one is 401 and the job store stays empty; a valid
one on an unusable body is 400/422, never 401; an unconfigured source is 404;
a repeated delivery runs once; an accepted event is 202 and becomes a job
that finishes with the plugin's result.
"""
from __future__ import annotations

import json
import time
from typing import Any, Callable

import pytest
from aiohttp import web

from qualia.kernel.jobs import JobSettings
from qualia.kernel.server.jobs_service import JOBS
from qualia.kernel.server.webhooks import WEBHOOKS, WebhookSettings
from qualia.kernel.signatures import sign_body, sign_slack, verify_slack
from tests.conftest import problem_plugin

from ..jobs_support import wait_job
from .conftest import error_of, json_of

GITHUB_DOC_SECRET = "It's a Secret to Everybody"
SECRETS = dict(custom_secret="custom-secret", github_secret=GITHUB_DOC_SECRET, slack_secret="slack-secret")
FAST_JOBS = JobSettings(poll_s=0.1, lease_s=3.0, retention_days=0)


def configure(jobs: JobSettings = FAST_JOBS, **webhooks: Any) -> Callable[[web.Application], None]:
    def setup(app: web.Application) -> None:
        app[JOBS].settings = jobs
        app[WEBHOOKS] = WebhookSettings(**{"github_plugin": "echo", "slack_plugin": "echo", **SECRETS, **webhooks})
    return setup


@pytest.fixture
async def hooks(serve, plugin_dir):
    problem_plugin(plugin_dir, "echo", "ok")
    return await serve(setup=configure())


def store_count(served) -> int:
    return served.app[JOBS].store.count()


def custom_request(body: dict[str, Any] | bytes, secret: str = "custom-secret",
                   **headers: str) -> tuple[bytes, dict[str, str]]:
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return raw, {"Content-Type": "application/json", "X-Qualia-Signature": sign_body(secret, raw), **headers}


def github_request(event: str, payload: dict[str, Any], delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
                   secret: str = GITHUB_DOC_SECRET) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(payload).encode()
    return raw, {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
                 "X-Hub-Signature-256": sign_body(secret, raw)}


def slack_request(payload: dict[str, Any], *, age_s: float = 0, secret: str = "slack-secret"
                  ) -> tuple[bytes, dict[str, str]]:
    raw = json.dumps(payload).encode()
    timestamp = str(int(time.time() - age_s))
    return raw, {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp,
                 "X-Slack-Signature": sign_slack(secret, timestamp, raw)}


def slack_message(text: str, event_id: str = "Ev0PV52K21", **event: Any) -> dict[str, Any]:
    return {"type": "event_callback", "team_id": "T1", "event_id": event_id, "event_time": int(time.time()),
            "event": {"type": "message", "channel": "C1", "user": "U1", "text": text, "ts": "1.000", **event}}


# ---- the schemes, pinned to their documented examples ----------------------------------------

def test_github_documented_example():
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    assert sign_body(GITHUB_DOC_SECRET, b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17")


def test_slack_documented_example():
    # https://api.slack.com/authentication/verifying-requests-from-slack (the worked example)
    body = (b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
            b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
            b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXa"
            b"IFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c")
    signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    assert sign_slack(secret, 1531420618, body) == signature
    assert verify_slack(secret, "1531420618", body, signature, now=1531420618 + 299)
    assert not verify_slack(secret, "1531420618", body, signature, now=1531420618 + 301)  # replayed too late
    assert not verify_slack(secret, "1531420618", body + b"x", signature, now=1531420618)
    assert not verify_slack(secret, "not-a-number", body, signature, now=1531420618)


async def test_the_github_documented_vector_passes_the_server_check_then_is_not_json(serve, plugin_dir):
    served = await serve(setup=configure())
    headers = {"X-GitHub-Event": "issues", "X-Hub-Signature-256":
               "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"}
    async with served.session.post("/webhook/github", data=b"Hello, World!", headers=headers) as response:
        await error_of(response, 400, "malformed_body")  # authentic, but not an event: never 401
    headers["X-Hub-Signature-256"] = headers["X-Hub-Signature-256"][:-1] + "0"
    async with served.session.post("/webhook/github", data=b"Hello, World!", headers=headers) as response:
        await error_of(response, 401, "unauthorized")
    assert store_count(served) == 0


# ---- custom ----------------------------------------------------------------------------------

async def test_custom_webhook_answers_202_and_the_job_finishes_with_the_result(hooks):
    body, headers = custom_request({"text": "olá mundo", "plugin": "echo", "delivery_id": "d-1"})
    async with hooks.session.post("/webhook/custom", data=body, headers=headers) as response:
        accepted = await json_of(response)
    assert response.status == 202
    assert accepted["duplicate"] is False and accepted["state"] == "queued"
    assert response.headers["Location"] == f"/jobs/{accepted['job_id']}" == accepted["links"]["self"]
    job = await wait_job(hooks.session, accepted["job_id"])
    assert job["state"] == "succeeded" and job["source"] == "custom" and job["delivery_id"] == "d-1"
    assert job["result"]["documents"][0]["result"] == {"echo": "olá mundo"}


@pytest.mark.parametrize("case", ["missing", "wrong secret", "tampered body", "sha1 prefix", "bare hex", "empty"])
async def test_custom_webhook_without_a_valid_signature_is_401_and_nothing_runs(hooks, case):
    body, headers = custom_request({"text": "x", "plugin": "echo"})
    if case == "missing":
        del headers["X-Qualia-Signature"]
    elif case == "wrong secret":
        headers["X-Qualia-Signature"] = sign_body("guess", body)
    elif case == "tampered body":
        body = body.replace(b'"x"', b'"y"')
    elif case == "sha1 prefix":
        headers["X-Qualia-Signature"] = headers["X-Qualia-Signature"].replace("sha256=", "sha1=")
    elif case == "bare hex":
        headers["X-Qualia-Signature"] = headers["X-Qualia-Signature"].removeprefix("sha256=")
    else:
        headers["X-Qualia-Signature"] = ""
    async with hooks.session.post("/webhook/custom", data=body, headers=headers) as response:
        error = await error_of(response, 401, "unauthorized")
    assert "X-Qualia-Signature" in error["message"]
    assert store_count(hooks) == 0


@pytest.mark.parametrize(("body", "status", "code", "says"), [
    (b"{not json", 400, "malformed_body", "not JSON"),
    (b"", 400, "malformed_body", "empty"),
    (b"[1, 2]", 422, "invalid_request", "JSON object"),
    (b'{"text": "x"}', 422, "invalid_request", "'pipeline'"),
    (b'{"plugin": "echo"}', 422, "invalid_request", "'text'"),
    (b'{"plugin": "nope", "text": "x"}', 422, "invalid_request", "unknown plugin 'nope'"),
    (b'{"plugin": "echo", "text": "x", "colour": 1}', 422, "invalid_request", "colour"),
    (b'{"pipeline": {"steps": [{"plugin": "echo"}, {"plugin": "ghost"}]}, "text": "x"}', 422, "invalid_pipeline",
     "step 2 (ghost)"),
])
async def test_custom_webhook_with_a_valid_signature_but_an_unusable_body_is_400_or_422(hooks, body, status, code,
                                                                                         says):
    raw, headers = custom_request(body)
    async with hooks.session.post("/webhook/custom", data=raw, headers=headers) as response:
        error = await error_of(response, status, code)
    assert says in error["message"]
    assert store_count(hooks) == 0


async def test_a_replayed_delivery_runs_once(hooks):
    body, headers = custom_request({"text": "once", "plugin": "echo"}, **{"X-Qualia-Delivery": "abc-1"})
    answers = []
    for _ in range(3):
        async with hooks.session.post("/webhook/custom", data=body, headers=headers) as response:
            answers.append((response.status, await json_of(response)))
    (first_status, first), *repeats = answers
    assert first_status == 202 and not first["duplicate"]
    for status, again in repeats:
        assert status == 200 and again["duplicate"] is True and again["job_id"] == first["job_id"]
    assert store_count(hooks) == 1
    job = await wait_job(hooks.session, first["job_id"])
    assert job["delivery_id"] == "abc-1" and job["attempts"] == 1


async def test_without_a_delivery_id_the_same_body_is_recognised_as_a_replay(hooks):
    body, headers = custom_request({"text": "same", "plugin": "echo"})
    async with hooks.session.post("/webhook/custom", data=body, headers=headers) as response:
        first = await json_of(response)
    async with hooks.session.post("/webhook/custom", data=body, headers=headers) as response:
        again = await json_of(response)
    assert response.status == 200 and again["duplicate"] and again["job_id"] == first["job_id"]
    assert first and (await wait_job(hooks.session, first["job_id"]))["delivery_id"].startswith("sha256:")


# ---- configuration ---------------------------------------------------------------------------

@pytest.mark.parametrize(("source", "variable"), [("custom", "QUALIA_WEBHOOK_SECRET"),
                                                  ("github", "QUALIA_GITHUB_SECRET"),
                                                  ("slack", "QUALIA_SLACK_SIGNING_SECRET")])
async def test_a_source_without_a_secret_is_404_even_when_signed(serve, plugin_dir, source, variable):
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve(setup=configure(**{f"{source}_secret": None}))
    body, headers = {"custom": custom_request({"text": "x", "plugin": "echo"}),
                     "github": github_request("issues", {"action": "opened", "issue": {"title": "t"}}),
                     "slack": slack_request(slack_message("hi"))}[source]
    async with served.session.post(f"/webhook/{source}", data=body, headers=headers) as response:
        error = await error_of(response, 404, "webhook_not_configured")
    assert variable in error["message"]
    assert store_count(served) == 0


async def test_secrets_come_from_the_environment(serve, plugin_dir, monkeypatch):
    monkeypatch.setenv("QUALIA_WEBHOOK_SECRET", "from-env")
    monkeypatch.delenv("QUALIA_GITHUB_SECRET", raising=False)
    problem_plugin(plugin_dir, "echo", "ok")
    served = await serve()
    assert served.app[WEBHOOKS].custom_secret == "from-env" and served.app[WEBHOOKS].github_secret is None
    body, headers = custom_request({"text": "x", "plugin": "echo"}, secret="from-env")
    async with served.session.post("/webhook/custom", data=body, headers=headers) as response:
        assert response.status == 202, await response.text()
    async with served.session.post("/webhook/github", data=b"{}") as response:
        await error_of(response, 404, "webhook_not_configured")


async def test_an_unknown_source_is_404(hooks):
    async with hooks.session.post("/webhook/gitlab", data=b"{}") as response:
        error = await error_of(response, 404)
    assert "gitlab" in error["message"]


async def test_a_misconfigured_plugin_is_503_not_the_senders_fault(serve, plugin_dir):
    served = await serve(setup=configure(github_plugin="not_installed"))
    body, headers = github_request("issues", {"action": "opened", "issue": {"title": "Hi", "body": "there"}})
    async with served.session.post("/webhook/github", data=body, headers=headers) as response:
        error = await error_of(response, 503, "webhook_misconfigured")
    assert "QUALIA_GITHUB_PLUGIN" in error["message"]


# ---- GitHub ----------------------------------------------------------------------------------

ISSUE = {"action": "opened", "repository": {"full_name": "octo/repo"},
         "issue": {"id": 42, "number": 7, "title": "Crash on start", "body": "It fails every time.",
                   "html_url": "https://github.com/octo/repo/issues/7", "user": {"login": "mona"}}}


async def test_github_issue_becomes_a_job_on_title_and_body(hooks):
    body, headers = github_request("issues", ISSUE)
    async with hooks.session.post("/webhook/github", data=body, headers=headers) as response:
        accepted = await json_of(response)
    assert response.status == 202 and response.headers["Location"] == f"/jobs/{accepted['job_id']}"
    job = await wait_job(hooks.session, accepted["job_id"])
    assert job["state"] == "succeeded" and job["source"] == "github" and job["target"] == "echo"
    assert job["delivery_id"] == headers["X-GitHub-Delivery"]
    assert job["result"]["documents"][0]["result"] == {"echo": "Crash on start\n\nIt fails every time."}
    assert job["result"]["documents"][0]["document_id"] == "github:issues:42"


async def test_github_comment_form_encoded_and_duplicate_delivery(hooks):
    payload = {"action": "created", "comment": {"id": 9, "body": "Looks great!"}, "issue": {"number": 7}}
    raw = "payload=" + json.dumps(payload).replace("%", "%25").replace("&", "%26").replace("+", "%2B")
    body = raw.encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-GitHub-Event": "issue_comment",
               "X-GitHub-Delivery": "delivery-9", "X-Hub-Signature-256": sign_body(GITHUB_DOC_SECRET, body)}
    async with hooks.session.post("/webhook/github", data=body, headers=headers) as response:
        first = await json_of(response)
    assert response.status == 202, first
    async with hooks.session.post("/webhook/github", data=body, headers=headers) as response:
        again = await json_of(response)
    assert response.status == 200 and again["duplicate"] and again["job_id"] == first["job_id"]
    job = await wait_job(hooks.session, first["job_id"])
    assert job["result"]["documents"][0]["result"] == {"echo": "Looks great!"}
    assert store_count(hooks) == 1


async def test_github_ping_is_200_and_other_events_are_ignored_with_202(hooks):
    body, headers = github_request("ping", {"zen": "Keep it logically awesome.", "hook_id": 1})
    async with hooks.session.post("/webhook/github", data=body, headers=headers) as response:
        assert response.status == 200 and await response.json() == {"ok": True, "zen": "Keep it logically awesome.",
                                                                     "hook_id": 1}
    for event, payload, reason in [("push", {"ref": "main"}, "'push' is not analysed"),
                                   ("issues", {**ISSUE, "action": "closed"}, "'closed' is not analysed"),
                                   ("issue_comment", {"action": "created", "comment": {"body": "  "}}, "no text")]:
        body, headers = github_request(event, payload, delivery=f"d-{event}-{payload.get('action')}")
        async with hooks.session.post("/webhook/github", data=body, headers=headers) as response:
            answer = await json_of(response)
        assert response.status == 202 and answer["ignored"] is True and reason in answer["reason"], answer
    assert store_count(hooks) == 0


async def test_github_unusable_events_are_422_and_bad_signatures_401(hooks):
    body, headers = github_request("issues", {"action": "opened", "issue": "not an object"})
    async with hooks.session.post("/webhook/github", data=body, headers=headers) as response:
        await error_of(response, 422, "invalid_request")
    body, headers = github_request("issues", ISSUE, secret="wrong")
    async with hooks.session.post("/webhook/github", data=body, headers=headers) as response:
        await error_of(response, 401, "unauthorized")
    body, headers = github_request("issues", ISSUE)
    headers["X-Hub-Signature"] = "sha1=" + headers.pop("X-Hub-Signature-256")[7:47]  # the legacy header only
    async with hooks.session.post("/webhook/github", data=body, headers=headers) as response:
        await error_of(response, 401, "unauthorized")
    assert store_count(hooks) == 0


# ---- Slack -----------------------------------------------------------------------------------

async def test_slack_url_verification_answers_the_challenge(hooks):
    body, headers = slack_request({"type": "url_verification", "token": "t", "challenge": "3eZbrw1aBm2rZgRNFdxV"})
    async with hooks.session.post("/webhook/slack", data=body, headers=headers) as response:
        assert response.status == 200 and await response.json() == {"challenge": "3eZbrw1aBm2rZgRNFdxV"}
    assert store_count(hooks) == 0


async def test_slack_message_becomes_a_job_and_a_retry_runs_once(hooks):
    body, headers = slack_request(slack_message("bom dia, equipe"))
    async with hooks.session.post("/webhook/slack", data=body, headers=headers) as response:
        first = await json_of(response)
    assert response.status == 202
    body, headers = slack_request(slack_message("bom dia, equipe"), age_s=2)  # Slack's retry: same event_id
    headers["X-Slack-Retry-Num"] = "1"
    async with hooks.session.post("/webhook/slack", data=body, headers=headers) as response:
        again = await json_of(response)
    assert response.status == 200 and again["duplicate"] and again["job_id"] == first["job_id"]
    job = await wait_job(hooks.session, first["job_id"])
    assert job["delivery_id"] == "Ev0PV52K21" and job["source"] == "slack"
    assert job["result"]["documents"][0]["result"] == {"echo": "bom dia, equipe"}


@pytest.mark.parametrize(("age_s", "accepted"), [(240, True), (360, False), (-360, False), (3600, False)])
async def test_slack_replay_window(hooks, age_s, accepted):
    body, headers = slack_request(slack_message("hello", event_id=f"Ev{age_s}"), age_s=age_s)
    async with hooks.session.post("/webhook/slack", data=body, headers=headers) as response:
        if accepted:
            assert response.status == 202, await response.text()
        else:  # correctly signed, but too old (a replay) or from the future
            error = await error_of(response, 401, "unauthorized")
            assert "X-Slack-Request-Timestamp" in error["message"]
    assert store_count(hooks) == (1 if accepted else 0)


@pytest.mark.parametrize("case", ["missing signature", "missing timestamp", "wrong secret", "timestamp swapped"])
async def test_slack_bad_signatures_are_401(hooks, case):
    body, headers = slack_request(slack_message("hello"))
    if case == "missing signature":
        del headers["X-Slack-Signature"]
    elif case == "missing timestamp":
        del headers["X-Slack-Request-Timestamp"]
    elif case == "wrong secret":
        body, headers = slack_request(slack_message("hello"), secret="nope")
    else:  # the signature is bound to its timestamp
        headers["X-Slack-Request-Timestamp"] = str(int(headers["X-Slack-Request-Timestamp"]) - 1)
    async with hooks.session.post("/webhook/slack", data=body, headers=headers) as response:
        await error_of(response, 401, "unauthorized")
    assert store_count(hooks) == 0


async def test_slack_bot_messages_and_other_events_are_ignored_and_broken_ones_422(hooks):
    for payload in [slack_message("beep", event_id="Ev1", bot_id="B1"),
                    slack_message("edited", event_id="Ev2", subtype="message_changed"),
                    {**slack_message("x", event_id="Ev3"), "event": {"type": "reaction_added"}},
                    {"type": "app_rate_limited"}]:
        body, headers = slack_request(payload)
        async with hooks.session.post("/webhook/slack", data=body, headers=headers) as response:
            answer = await json_of(response)
        assert response.status == 202 and answer["ignored"], answer
    body, headers = slack_request({"type": "event_callback", "event": {"type": "message", "text": "x"}})
    async with hooks.session.post("/webhook/slack", data=body, headers=headers) as response:
        error = await error_of(response, 422, "invalid_request")
    assert "event_id" in error["message"]
    body, headers = slack_request({})
    body = b"token=x&command=%2Fqualia"  # a slash command (form-encoded), correctly signed
    timestamp = headers["X-Slack-Request-Timestamp"]
    headers.update({"Content-Type": "application/x-www-form-urlencoded",
                    "X-Slack-Signature": sign_slack("slack-secret", timestamp, body)})
    async with hooks.session.post("/webhook/slack", data=body, headers=headers) as response:
        await error_of(response, 400, "malformed_body")
    assert store_count(hooks) == 0
