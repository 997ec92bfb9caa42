"""The cluster tests' fixtures: one real node for the session (tests/bed/node.py), and on it the example overlay
as tests/cluster/overlay changes it, with the MongoDB pod on a hostPath volume and the backups on another.

They run inside the bed's network namespace: `make test-cluster` (python -m tests.bed.netns -- pytest …).
Every wait is for a state, bounded; a bound reached fails with what the cluster said.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pymongo
import pytest

from tests.bed.images import bed_images
from tests.bed.node import Node, node_paths, start_node, write_kubeconfig
from tests.bed.servers import binary_paths

NAMESPACE = "shop"
OVERLAY = Path(__file__).with_name("overlay")
RESULTS: list[str] = []  # printed at the end of the run: what was measured


def wait_for(condition: Callable[[], Any], timeout: float, what: str, explain: Callable[[], str] = lambda: "") -> Any:
    """Polls `condition` until it returns something true; fails naming `what` and the cluster's own words."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s\n{explain()}")
        time.sleep(0.25)


def _interrupted(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@pytest.fixture(scope="session")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    if not os.environ.get("VAULTUI_NODE_NETNS"):
        pytest.fail("the cluster tests run inside the bed's network namespace: make test-cluster")
    # A TERM (CI's time limit, tests.bed.netns passing one on) ends the run as Ctrl-C does: through the
    # fixtures' teardown, so the node stops its pods and removes what it made.
    signal.signal(signal.SIGTERM, _interrupted)
    started = time.monotonic()
    images = bed_images(node_paths(), tmp_path_factory.mktemp("images"))
    images_seconds = time.monotonic() - started
    running = start_node(images)
    RESULTS.append(f"node: images made in {images_seconds:.1f} s; node Ready {running.timings['start_seconds']:.1f} s "
                   "after its first process started")  # fmt: skip
    try:
        yield running
    finally:
        memory = running.rss_mib()
        RESULTS.append("node memory (RSS MiB): " + ", ".join(f"{name} {size:.0f}" for name, size in memory.items())
                       + f"; total {sum(memory.values()):.0f}")  # fmt: skip
        stopping = time.monotonic()
        running.stop()
        RESULTS.append(f"node: stopped and removed in {time.monotonic() - stopping:.1f} s")


@dataclass
class Shop:
    """The example install in namespace `shop`, and the host folders behind its two volumes."""

    node: Node
    backups: Path  # the backup claim's hostPath: what the CronJobs write, as the engine sees it
    data: Path  # the MongoDB pod's /data/db
    restore_kubeconfig: Path  # the vaultui-restore identity, as an on-call engineer's kubeconfig holds it

    def kubectl(self, *arguments: str, check: bool = True, input: str | None = None) -> str:
        return self.node.kubectl("-n", NAMESPACE, *arguments, check=check, input=input)

    def get(self, kind: str, name: str) -> dict[str, Any] | None:
        output = self.kubectl("get", kind, name, "-o", "json", check=False)
        return json.loads(output) if output.strip() else None

    def describe(self, *what: str) -> str:
        return "\n".join([self.kubectl("get", "pods,jobs,pvc", "-o", "wide", check=False),
                          self.kubectl("get", "events", "--sort-by=.lastTimestamp", check=False)[-3000:],
                          *(self.kubectl("describe", item, check=False)[-3000:] for item in what)])  # fmt: skip

    def pod_ready(self, name: str, uid_not: str | None = None) -> dict[str, Any] | None:
        pod = self.get("pod", name)
        if not pod or pod["metadata"].get("deletionTimestamp") or pod["metadata"]["uid"] == uid_not:
            return None
        conditions = {c["type"]: c["status"] for c in pod.get("status", {}).get("conditions", [])}
        return pod if conditions.get("Ready") == "True" else None

    def mongo(self, pod: str = "mongodb-0") -> pymongo.MongoClient:
        """A client of the pod's server at its pod address (reachable inside the bed's namespace only)."""
        address = self.get("pod", pod)["status"]["podIP"]  # type: ignore[index]
        return pymongo.MongoClient(f"mongodb://{address}:27017/", directConnection=True, serverSelectionTimeoutMS=5000)

    def run_job(self, job: str, timeout: float = 180) -> dict[str, Any]:
        """Waits for the Job to end; fails with its logs when it failed."""

        def ended() -> dict[str, Any] | None:
            found = self.get("job", job)
            conditions = {c["type"]: c["status"] for c in (found or {}).get("status", {}).get("conditions", [])}
            return found if conditions.get("Complete") == "True" or conditions.get("Failed") == "True" else None

        found = wait_for(ended, timeout, f"end of Job {job}", lambda: self.describe(f"job/{job}"))
        if not found["status"].get("succeeded"):
            pytest.fail(f"Job {job} failed:\n{self.kubectl('logs', f'job/{job}', '--all-containers', check=False)}")
        return found

    def logs(self, *arguments: str) -> str:
        return self.kubectl("logs", *arguments, check=False)


def _hostpath_volume(name: str, path: Path, size: str, modes: list[str], claim: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": modes,
            "storageClassName": "vaultui-bed",
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(path), "type": "Directory"},
            # Bound ahead to its claim: the test knows which folder is which.
            "claimRef": {"namespace": NAMESPACE, "name": claim},
        },
    }


@pytest.fixture(scope="session")
def shop(node: Node) -> Shop:
    """kustomize build tests/cluster/overlay | kubectl apply -f -, with the Secret and volumes it expects, and
    the MongoDB pod Ready with its oplog made."""
    volumes = node.work / "volumes"
    backups, data = volumes / "backup", volumes / "data"
    backups.mkdir(parents=True)
    data.mkdir()
    # hostPath volumes take no fsGroup: the backup folder belongs to the vaultui user, as an NFS export would.
    os.chown(backups, 10001, 10001)
    node.kubectl("create", "namespace", NAMESPACE)
    pvs = [_hostpath_volume("vaultui-bed-backup", backups, "200Gi", ["ReadWriteMany"], "mongodb-backup"),
           _hostpath_volume("vaultui-bed-data", data, "20Gi", ["ReadWriteOnce"], "data-mongodb-0")]  # fmt: skip
    node.kubectl("apply", "-f", "-", input=json.dumps({"apiVersion": "v1", "kind": "List", "items": pvs}))
    node.kubectl("-n", NAMESPACE, "create", "secret", "generic", "vaultui-mongodb",
                 "--from-literal=uri=mongodb://mongodb-0.mongodb:27017/")  # fmt: skip
    rendered = subprocess.run([str(binary_paths()["kustomize"]), "build", str(OVERLAY)], check=True,
                              capture_output=True, text=True).stdout  # fmt: skip
    node.kubectl("apply", "-f", "-", input=rendered)
    token = node.kubectl("-n", NAMESPACE, "create", "token", "vaultui-restore", "--duration=2h").strip()
    restore_kubeconfig = node.work / "vaultui-restore.kubeconfig"
    write_kubeconfig(restore_kubeconfig, node.api_url, node.work / "pki" / "ca.crt", "vaultui-restore", token,
                     NAMESPACE)  # fmt: skip
    installed = Shop(node, backups, data, restore_kubeconfig)
    wait_for(lambda: installed.pod_ready("mongodb-0"), 180, "MongoDB pod Ready",
             lambda: installed.describe("pod/mongodb-0"))  # fmt: skip
    installed.run_job("mongodb-initiate-replica-set")
    return installed


@pytest.fixture(scope="session")
def vaultui_env(shop: Shop) -> dict[str, str]:
    """The environment the CLI runs in on the on-call engineer's side: the restore identity's kubeconfig."""
    return {"KUBECONFIG": str(shop.restore_kubeconfig)}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if RESULTS:
        terminalreporter.section("the real node: what was measured")
        for line in RESULTS:
            terminalreporter.write_line(line)
