"""Being told without Prometheus: a JSON message to a webhook (Slack-compatible: the words are in `text`) when a
run fails or is refused, and when a run of that kind succeeds again after a failure. A webhook that is down
or hangs costs at most the timeout and a warning: it never changes the run's result or exit code."""

from __future__ import annotations

import json
import threading
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True)
class Notice:
    """One message: what ran where, and how it ended."""

    event: str  # failed | refused | recovered
    command: str
    deployment: str
    namespace: str
    storage: str
    detail: str
    exit_code: int

    @property
    def text(self) -> str:
        where = f"{self.deployment}" + (f" ({self.namespace})" if self.namespace else "")
        verb = {"failed": "FAILED", "refused": "was REFUSED", "recovered": "succeeded again"}[self.event]
        return f"vaultui {self.command} on {where} {verb}: {self.detail} [storage {self.storage}]"

    def body(self) -> bytes:
        return json.dumps({"text": self.text, "vaultui": asdict(self)}, sort_keys=True).encode()


def webhook_host(url: str) -> str:
    """The webhook as it may be shown: its host only (the path of a Slack-style URL is its secret)."""
    try:
        parts = urlsplit(url)
        return f"{parts.scheme}://{parts.hostname or '?'}"
    except ValueError:
        return "<unparseable URL>"


def post(url: str, notice: Notice, timeout: float = TIMEOUT_SECONDS) -> str:
    """Posts the notice; '' when the webhook took it, else why not. Never raises for the webhook's faults, and
    returns within `timeout` whatever the receiver does (a slow trickle of bytes included): the request runs
    on a daemon thread that is left behind when time is up."""
    outcome: list[str] = []

    def send() -> None:
        import urllib.error  # here, not at the top: http.client, ssl and email cost every command's start-up
        import urllib.request

        request = urllib.request.Request(
            url, data=notice.body(), headers={"Content-Type": "application/json"}, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                answer.read(1 << 16)
            outcome.append("")
        except urllib.error.HTTPError as error:
            outcome.append(f"the webhook {webhook_host(url)} answered HTTP {error.code}")
        except (OSError, ValueError) as error:  # refused, unreachable, timed out, not a URL
            outcome.append(f"the webhook {webhook_host(url)} could not be reached ({error})")

    sender = threading.Thread(target=send, name="vaultui-notify", daemon=True)
    sender.start()
    sender.join(timeout)
    return outcome[0] if outcome else f"the webhook {webhook_host(url)} did not answer within {timeout:.0f} s"
