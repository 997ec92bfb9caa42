"""A real Kubernetes API server (kube-apiserver + etcd, no kubelet or controllers) on loopback, with a
kubeconfig using token auth. Built by build.sh from the Go module proxy."""

from __future__ import annotations

import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import urllib3

from tests.bed.servers import Server, _launch, binary_paths, free_port

ADMIN_TOKEN = "vaultui-test-admin-token"


@dataclass
class Cluster:
    etcd: Server
    apiserver: Server
    kubeconfig: Path
    url: str

    def stop(self) -> None:
        self.apiserver.stop()
        self.etcd.stop()


def start_cluster() -> Cluster:
    paths = binary_paths()
    work = Path(tempfile.mkdtemp(prefix="vaultui-kube-"))
    client_port, peer_port = free_port(), free_port()
    etcd_process, etcd_log = _launch(
        "etcd",
        [
            str(paths["etcd"]),
            f"--data-dir={work / 'etcd'}",
            "--name=vaultui-test",
            f"--listen-client-urls=http://127.0.0.1:{client_port}",
            f"--advertise-client-urls=http://127.0.0.1:{client_port}",
            f"--listen-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-advertise-peer-urls=http://127.0.0.1:{peer_port}",
            f"--initial-cluster=vaultui-test=http://127.0.0.1:{peer_port}",
            "--log-level=warn",
        ],
        client_port,
        work,
    )
    etcd = Server("etcd", etcd_process, client_port, f"http://127.0.0.1:{client_port}", work / "etcd-run", etcd_log)
    key = work / "service-account.key"
    subprocess.run(["openssl", "genrsa", "-out", str(key), "2048"], check=True, capture_output=True)
    (work / "tokens.csv").write_text(f"{ADMIN_TOKEN},admin,admin,system:masters\n")
    port = free_port()
    try:
        process, log = _launch(
            "kube-apiserver",
            [
                str(paths["kube_apiserver"]),
                f"--etcd-servers={etcd.url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={port}",
                f"--cert-dir={work / 'certs'}",
                f"--token-auth-file={work / 'tokens.csv'}",
                "--authorization-mode=RBAC",
                f"--service-account-key-file={key}",
                f"--service-account-signing-key-file={key}",
                "--service-account-issuer=https://kubernetes.default.svc",
                "--service-cluster-ip-range=10.96.0.0/24",
                "--disable-admission-plugins=ServiceAccount",
                "--enable-priority-and-fairness=false",
                "--v=0",
            ],
            port,
            work,
        )
    except RuntimeError:
        etcd.stop()
        raise
    apiserver = Server("kube-apiserver", process, port, f"https://127.0.0.1:{port}", work, log)
    wait_healthy(apiserver.url)
    kubeconfig = work / "kubeconfig"
    kubeconfig.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: {apiserver.url}
    insecure-skip-tls-verify: true
users:
- name: admin
  user:
    token: {ADMIN_TOKEN}
contexts:
- name: test
  context:
    cluster: test
    user: admin
    namespace: default
current-context: test
""")
    return Cluster(etcd, apiserver, kubeconfig, apiserver.url)


def wait_healthy(url: str, timeout: float = 120) -> None:
    http = urllib3.PoolManager(cert_reqs="CERT_NONE")
    urllib3.disable_warnings()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            response = http.request(
                "GET", f"{url}/readyz", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=2, retries=False
            )
            if response.status == 200:
                return
        except urllib3.exceptions.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError(f"kube-apiserver at {url} was not ready within {timeout:.0f} s")
