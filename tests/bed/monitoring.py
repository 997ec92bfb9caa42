"""The alerting bed: a real Pushgateway, Prometheus and Alertmanager on free loopback ports (built by
build.sh through the Go module proxy), and a webhook receiver that keeps what Alertmanager posts to it. Short
intervals (a scrape and an evaluation every second) let a test wait for alert states, not for minutes."""

from __future__ import annotations

import json
import tempfile
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from tests.bed.servers import Server, _launch, binary_paths, free_port


def start_pushgateway() -> Server:
    workdir = Path(tempfile.mkdtemp(prefix="vaultui-pushgateway-"))
    port = free_port()
    argv = [str(binary_paths()["pushgateway"]), f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"]
    process, log_path = _launch("pushgateway", argv, port, workdir)
    return Server("pushgateway", process, port, f"http://127.0.0.1:{port}", workdir, log_path)


def start_alertmanager(webhook_url: str) -> Server:
    """Alertmanager sending every alert, firing and resolved, to `webhook_url` at once (no batching wait)."""
    workdir = Path(tempfile.mkdtemp(prefix="vaultui-alertmanager-"))
    port = free_port()
    (workdir / "alertmanager.yml").write_text(
        json.dumps(
            {
                "route": {
                    "receiver": "webhook",
                    "group_by": ["alertname", "deployment", "namespace"],
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                },
                "receivers": [{"name": "webhook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}],
            }
        )
    )
    argv = [
        str(binary_paths()["alertmanager"]),
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",  # one instance: no gossip port
        "--log.level=warn",
    ]
    process, log_path = _launch("alertmanager", argv, port, workdir)
    return Server("alertmanager", process, port, f"http://127.0.0.1:{port}", workdir, log_path)


def start_prometheus(rule_file: Path, pushgateway: Server, alertmanager: Server) -> Server:
    """Prometheus scraping the Pushgateway (its pushed labels kept) every second, evaluating `rule_file` every
    second and sending alerts to `alertmanager`."""
    workdir = Path(tempfile.mkdtemp(prefix="vaultui-prometheus-"))
    port = free_port()
    (workdir / "prometheus.yml").write_text(
        json.dumps(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rule_file)],
                "scrape_configs": [
                    {
                        "job_name": "pushgateway",
                        "honor_labels": True,
                        "static_configs": [{"targets": [f"127.0.0.1:{pushgateway.port}"]}],
                    }
                ],
                "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}]},
            }
        )
    )
    argv = [
        str(binary_paths()["prometheus"]),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--rules.alert.resend-delay=1s",
        "--log.level=warn",
    ]
    process, log_path = _launch("prometheus", argv, port, workdir)
    return Server("prometheus", process, port, f"http://127.0.0.1:{port}", workdir, log_path)


class WebhookReceiver:
    """An HTTP endpoint on loopback that keeps every JSON body posted to it; `wait_for` blocks until one
    matches (a state, not a time), up to a bound. `delay` makes it hang before answering."""

    def __init__(self, delay: threading.Event | None = None) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server naming
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with receiver.changed:
                    receiver.bodies.append(body)
                    receiver.changed.notify_all()
                if delay is not None:
                    delay.wait(60)  # a receiver that hangs: answers only once released
                self.send_response(200)
                self.end_headers()

            def log_message(self, *arguments: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait_for(self, matches: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        with self.changed:
            found = self.changed.wait_for(lambda: next((b for b in self.bodies if matches(b)), None), timeout)
        if not found:
            raise AssertionError(f"no matching post within {timeout:.0f} s; received: {self.bodies}")
        return found

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
