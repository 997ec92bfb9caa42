"""A real single-node Kubernetes cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
containerd + runc with the CNI bridge plugin, and CoreDNS, all processes of the bed, all inside the network
namespace tests.bed.netns made (the node's address is on that namespace's loopback only).

What it took on these machines is in ../shared/notes/real-cluster.md; the reasons sit beside each setting here.
kube-proxy is left out: no vaultui workload uses a ClusterIP Service (the MongoDB Service is headless, served
by CoreDNS, and no pod talks to the API server).
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.bed.images import Image, import_images
from tests.bed.netns import remove_pod_cgroups
from tests.bed.servers import CACHE

NODE_NAME = "vaultui-node"
NODE_BUILD_SCRIPT = Path(__file__).with_name("build_node.sh")
POD_SUBNET = "10.244.0.0/24"
SERVICE_RANGE = "10.96.0.0/24"
API_PORT = 6443
ETCD_PORTS = (2379, 2380)  # the namespace's own loopback: nothing else listens there
TOKENS = {
    "admin": ("admin", "system:masters"),
    "controller-manager": ("system:kube-controller-manager", ""),
    "scheduler": ("system:kube-scheduler", ""),
    "kubelet": (f"system:node:{NODE_NAME}", "system:nodes"),
}


@functools.cache
def node_paths() -> dict[str, Path | str]:
    """The cached node binaries and image layers, built first when needed (tests/bed/build_node.sh)."""
    paths_file = CACHE / "node-paths.env"
    if not paths_file.exists():
        subprocess.run(["bash", str(NODE_BUILD_SCRIPT)], check=True)
    values = dict(line.split("=", 1) for line in paths_file.read_text().split() if "=" in line)
    return {key: Path(value) if value.startswith("/") else value for key, value in values.items()}


@dataclass
class Node:
    work: Path
    address: str
    kubeconfig: Path
    containerd_socket: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"https://{self.address}:{API_PORT}"

    def log(self, name: str, lines: int = 40) -> str:
        try:
            return "\n".join((self.work / f"{name}.log").read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def kubectl(self, *arguments: str, check: bool = True, input: str | None = None) -> str:
        binary = Path(node_paths()["VAULTUI_NODE_BIN"]) / "kubectl"
        result = subprocess.run([str(binary), f"--kubeconfig={self.kubeconfig}", *arguments], input=input,
                                capture_output=True, text=True, timeout=120)  # fmt: skip
        if check and result.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(arguments)}: {result.stderr.strip()}")
        return result.stdout

    def rss_mib(self) -> dict[str, float]:
        """Resident memory of each node process (and of all container shims together), in MiB."""
        sizes = {name: _rss_mib(process.pid) for name, process in self.processes.items() if process.poll() is None}
        shims = [int(pid) for pid in _pids_named("containerd-shim")]
        sizes["shims"] = sum(_rss_mib(pid) for pid in shims)
        return sizes

    def stop(self) -> None:
        """Everything stopped, unmounted and removed, in the order that leaves nothing behind: workloads' pods
        first (the kubelet tears their networks and mounts down), then the kubelet and its runtime, the control
        plane (the API server exits in seconds once no watcher is connected), etcd last."""
        kubelet = self.processes.get("kubelet")
        if kubelet is not None and kubelet.poll() is None:
            for namespace in self.kubectl("get", "ns", "-o", "name", check=False).split():
                name = namespace.split("/", 1)[1]
                if name not in {"default", "kube-system", "kube-public", "kube-node-lease"}:
                    self.kubectl("delete", "ns", name, "--wait=false", check=False)
            self.kubectl("delete", "pods", "--all", "--all-namespaces", "--grace-period=1", "--timeout=60s",
                         check=False)  # fmt: skip
        for name in ("kubelet", "coredns", "kube-scheduler", "kube-controller-manager"):
            _terminate(self.processes.get(name))
        self._remove_containers()
        for name in ("containerd", "kube-apiserver", "etcd"):
            _terminate(self.processes.get(name))
        for pid in _pids_named("containerd-shim"):
            _kill(int(pid))
        _unmount_under(self.work)
        remove_pod_cgroups(kill=False)
        shutil.rmtree(self.work, ignore_errors=True)

    def _remove_containers(self) -> None:
        containerd = self.processes.get("containerd")
        if containerd is None or containerd.poll() is not None:
            return
        ctr = ["ctr", "--address", str(self.containerd_socket), "--namespace", "k8s.io"]
        for task in subprocess.run([*ctr, "tasks", "ls", "-q"], capture_output=True, text=True).stdout.split():
            subprocess.run([*ctr, "tasks", "kill", "-s", "SIGKILL", task], capture_output=True)
            subprocess.run([*ctr, "tasks", "delete", "-f", task], capture_output=True)
        listed = subprocess.run([*ctr, "containers", "ls", "-q"], capture_output=True, text=True).stdout
        for container in listed.split():
            subprocess.run([*ctr, "containers", "delete", container], capture_output=True)


def start_node(images: list[Image]) -> Node:
    """The whole node up and Ready, with `images` imported into its runtime. Must run inside tests.bed.netns."""
    address = os.environ.get("VAULTUI_NODE_ADDRESS")
    if not address:
        raise RuntimeError("the node runs inside the bed's network namespace: python -m tests.bed.netns -- …")
    paths = node_paths()
    bin_dir = Path(paths["VAULTUI_NODE_BIN"])
    from tests.bed.servers import binary_paths

    etcd_binary = binary_paths()["etcd"]
    # Under the folder tests.bed.netns removes when its run ends, however this one ends.
    work = Path(tempfile.mkdtemp(prefix="node-", dir=os.environ.get("VAULTUI_NODE_ROOT")))
    node = Node(work, address, work / "admin.kubeconfig", work / "containerd" / "containerd.sock")
    started = time.monotonic()
    try:
        pki = _make_pki(work / "pki", address)
        _write_tokens(work)
        for user in TOKENS:
            write_kubeconfig(work / f"{user}.kubeconfig", f"https://{address}:{API_PORT}", pki / "ca.crt", user,
                             _token(user))  # fmt: skip
        client, peer = ETCD_PORTS
        node.processes["etcd"] = _spawn(work, "etcd", [
            str(etcd_binary), f"--data-dir={work / 'etcd'}", "--name=node",
            f"--listen-client-urls=http://127.0.0.1:{client}", f"--advertise-client-urls=http://127.0.0.1:{client}",
            f"--listen-peer-urls=http://127.0.0.1:{peer}", f"--initial-advertise-peer-urls=http://127.0.0.1:{peer}",
            f"--initial-cluster=node=http://127.0.0.1:{peer}", "--log-level=warn",
        ])  # fmt: skip
        node.processes["kube-apiserver"] = _spawn(work, "kube-apiserver", [
            str(bin_dir / "kube-apiserver"), f"--etcd-servers=http://127.0.0.1:{client}",
            "--bind-address=0.0.0.0", f"--advertise-address={address}", f"--secure-port={API_PORT}",
            f"--tls-cert-file={pki / 'apiserver.crt'}", f"--tls-private-key-file={pki / 'apiserver.key'}",
            f"--client-ca-file={pki / 'ca.crt'}", f"--token-auth-file={work / 'tokens.csv'}",
            # `kubectl logs` and the CLI's log following go through the kubelet, which checks this certificate
            # (O=system:masters) and must be reached at the node's own address, not its loopback hostname.
            f"--kubelet-client-certificate={pki / 'kubelet-client.crt'}",
            f"--kubelet-client-key={pki / 'kubelet-client.key'}",
            "--kubelet-preferred-address-types=InternalIP,Hostname",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            f"--service-account-key-file={pki / 'service-account.key'}",
            f"--service-account-signing-key-file={pki / 'service-account.key'}",
            "--service-account-issuer=https://kubernetes.default.svc", f"--service-cluster-ip-range={SERVICE_RANGE}",
            "--allow-privileged=true", "--enable-priority-and-fairness=false", "--v=0",
        ])  # fmt: skip
        _wait(lambda: _api_ready(node), 120, "kube-apiserver ready", node, "kube-apiserver")
        node.processes["kube-controller-manager"] = _spawn(work, "kube-controller-manager", [
            str(bin_dir / "kube-controller-manager"), f"--kubeconfig={work / 'controller-manager.kubeconfig'}",
            "--leader-elect=false", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={pki / 'service-account.key'}", f"--root-ca-file={pki / 'ca.crt'}",
            "--controllers=*,-nodeipam", "--bind-address=127.0.0.1", "--v=0",
        ])  # fmt: skip
        node.processes["kube-scheduler"] = _spawn(work, "kube-scheduler", [
            str(bin_dir / "kube-scheduler"), f"--kubeconfig={work / 'scheduler.kubeconfig'}",
            "--leader-elect=false", "--bind-address=127.0.0.1", "--v=0",
        ])  # fmt: skip
        _write_containerd_config(work)
        node.processes["containerd"] = _spawn(work, "containerd",
                                              ["containerd", "--config", str(work / "containerd.toml")])  # fmt: skip
        _wait(lambda: node.containerd_socket.exists(), 60, "containerd's socket", node, "containerd")
        import_images(node.containerd_socket, images, work / "images")
        _write_coredns_config(work, address)
        node.processes["coredns"] = _spawn(work, "coredns", [str(paths["VAULTUI_COREDNS"]), "-conf",
                                                              str(work / "Corefile")])  # fmt: skip
        _write_kubelet_config(work, address, pki)
        node.processes["kubelet"] = _spawn(work, "kubelet", [
            str(bin_dir / "kubelet"), f"--config={work / 'kubelet.yaml'}",
            f"--kubeconfig={work / 'kubelet.kubeconfig'}", f"--root-dir={work / 'kubelet'}",
            f"--node-ip={address}", f"--hostname-override={NODE_NAME}", "--v=0",
        ])  # fmt: skip
        _wait(lambda: _node_ready(node), 120, "the node Ready", node, "kubelet")
        node.timings["start_seconds"] = time.monotonic() - started
        return node
    except BaseException:
        node.stop()
        raise


# --- configuration ---


def _make_pki(pki: Path, address: str) -> Path:
    """A cluster CA; the API server's certificate for every name a client here uses; the API server's client
    certificate for the kubelet; the service-account signing key."""
    pki.mkdir(parents=True)

    def openssl(*arguments: str) -> None:
        subprocess.run(["openssl", *arguments], check=True, capture_output=True, cwd=pki)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2",
            "-subj", "/CN=vaultui-bed-ca")  # fmt: skip
    names = ",".join([f"IP:{address}", "IP:127.0.0.1", "IP:10.96.0.1", "DNS:localhost", "DNS:kubernetes",
                      "DNS:kubernetes.default", "DNS:kubernetes.default.svc",
                      "DNS:kubernetes.default.svc.cluster.local"])  # fmt: skip
    for name, subject, extension in (
        ("apiserver", "/CN=kube-apiserver", f"subjectAltName={names}\nextendedKeyUsage=serverAuth"),
        ("kubelet-client", "/O=system:masters/CN=kube-apiserver-kubelet-client", "extendedKeyUsage=clientAuth"),
    ):
        (pki / f"{name}.ext").write_text(extension + "\n")
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr",
                "-subj", subject)  # fmt: skip
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext")  # fmt: skip
    openssl("genrsa", "-out", "service-account.key", "2048")
    return pki


def _token(user: str) -> str:
    return f"vaultui-bed-{user}-token"


def _write_tokens(work: Path) -> None:
    lines = [f'{_token(user)},{name},{name},"{groups}"' if groups else f"{_token(user)},{name},{name}"
             for user, (name, groups) in TOKENS.items()]  # fmt: skip
    (work / "tokens.csv").write_text("\n".join(lines) + "\n")


def write_kubeconfig(path: Path, server: str, ca: Path, user: str, token: str, namespace: str = "default") -> None:
    """A kubeconfig of one user, by bearer token, trusting the bed's CA."""
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: bed
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: {user}
  user:
    token: {token}
contexts:
- name: bed
  context:
    cluster: bed
    user: {user}
    namespace: {namespace}
current-context: bed
""")


def _write_containerd_config(work: Path) -> None:
    (work / "cni" / "net.d").mkdir(parents=True)
    (work / "cni" / "net.d" / "10-bed.conflist").write_text(json.dumps({
        "cniVersion": "1.0.0",
        "name": "vaultui-bed",
        "plugins": [{
            "type": "bridge", "bridge": "vaultui0", "isGateway": True, "hairpinMode": True,
            "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_SUBNET}]], "routes": [{"dst": "0.0.0.0/0"}],
                     "dataDir": str(work / "cni" / "ipam")},
        }],
    }, indent=2))  # fmt: skip
    root = work / "containerd"
    (work / "containerd.toml").write_text(f"""version = 2
root = "{root / "root"}"
state = "{root / "state"}"
[grpc]
  address = "{root / "containerd.sock"}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "docker.io/local/pause:1"
  # Root here lacks CAP_SYS_RESOURCE: the -998 containerd asks for a sandbox's OOM score is refused (runc
  # fails with "can't get final child's PID from pipe"); this clamps it to what may be set.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{work / "cni" / "net.d"}"
""")


def _write_coredns_config(work: Path, address: str) -> None:
    # Cluster names from the API server; any other name is answered "no such name" at once (nothing is
    # reachable outside the namespace, so there is no upstream to forward to).
    (work / "Corefile").write_text(f"""cluster.local:53 in-addr.arpa:53 {{
    bind {address}
    errors
    kubernetes cluster.local in-addr.arpa {{
        kubeconfig {work / "admin.kubeconfig"} bed
    }}
}}
.:53 {{
    bind {address}
    template ANY ANY {{
        rcode NXDOMAIN
    }}
}}
""")


def _write_kubelet_config(work: Path, address: str, pki: Path) -> None:
    (work / "resolv.conf").write_text(f"nameserver {address}\n")
    (work / "kubelet.yaml").write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
# This machine's cgroups are v1, which kubelet 1.34 refuses unless told.
failCgroupV1: false
cgroupDriver: cgroupfs
failSwapOn: false
containerRuntimeEndpoint: unix://{work / "containerd" / "containerd.sock"}
authentication:
  anonymous:
    enabled: false
  webhook:
    enabled: true
  x509:
    clientCAFile: {pki / "ca.crt"}
authorization:
  mode: Webhook
clusterDNS: [{address}]
clusterDomain: cluster.local
resolvConf: {work / "resolv.conf"}
podLogsDir: {work / "pod-logs"}
readOnlyPort: 0
# The images are imported, not pulled: never collect them.
imageGCHighThresholdPercent: 99
imageGCLowThresholdPercent: 98
evictionHard:
  memory.available: 50Mi
  nodefs.available: 1%
  imagefs.available: 1%
  nodefs.inodesFree: 1%
""")


# --- processes ---


def _spawn(work: Path, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
    with (work / f"{name}.log").open("ab") as log:
        return subprocess.Popen(argv, cwd=work, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def _wait(condition, timeout: float, what: str, node: Node, component: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        process = node.processes.get(component)
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{component} exited with {process.returncode}:\n{node.log(component)}")
        if condition():
            return
        time.sleep(0.2)
    raise RuntimeError(f"no {what} within {timeout:.0f} s:\n{node.log(component)}")


def _api_ready(node: Node) -> bool:
    import ssl
    import urllib.error
    import urllib.request

    context = ssl.create_default_context(cafile=str(node.work / "pki" / "ca.crt"))
    request = urllib.request.Request(f"https://{node.address}:{API_PORT}/readyz",
                                     headers={"Authorization": f"Bearer {_token('admin')}"})  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=2, context=context) as response:
            return response.read().strip() == b"ok"
    except (OSError, urllib.error.URLError):
        return False


def _node_ready(node: Node) -> bool:
    output = node.kubectl("get", "node", NODE_NAME, "-o",
                          "jsonpath={.status.conditions[?(@.type=='Ready')].status}", check=False)  # fmt: skip
    return output.strip() == "True"


def _terminate(process: subprocess.Popen[bytes] | None, timeout: float = 30) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _kill(pid: int) -> None:
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _pids_named(prefix: str) -> list[str]:
    """Processes of this network namespace whose name starts with `prefix` (the shims of this node's pods)."""
    namespace = os.environ.get("VAULTUI_NODE_NETNS", "")
    pids = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True).stdout.split()
    named = []
    for pid in pids:
        try:
            if Path(f"/proc/{pid}/comm").read_text().startswith(prefix[:15]):
                named.append(pid)
        except OSError:
            pass
    return named


def _rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def _unmount_under(root: Path) -> None:
    """The kubelet bind-mounts its root folder onto itself and mounts volumes and secrets below it; containerd
    mounts snapshots and sandbox files: unmounted deepest first so the folder can go."""
    for _ in range(3):
        mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
        inside = sorted({mount for mount in mounts if mount.startswith(str(root))}, key=len, reverse=True)
        if not inside:
            return
        for mount in inside:
            subprocess.run(["umount", "-l", mount], capture_output=True)
