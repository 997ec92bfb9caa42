"""Runs a command inside a network namespace the bed makes for it, and removes the namespace afterwards.

    python -m tests.bed.netns -- COMMAND...

The cluster's addresses (the node's, the pod bridge and pods, the service range) exist only in there: the node
address sits on the namespace's own loopback device, the pod bridge is made inside it by CNI, and nothing routes
out. The command also gets a mount namespace of its own. Its exit code is this one's.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NODE_ADDRESS = "10.203.0.2"  # the node's InternalIP: on the namespace's lo only


CGROUPS = Path("/sys/fs/cgroup")
NETNS_FILES = Path("/run/netns")


def run(command: list[str]) -> int:
    name = f"vaultui-node-{os.getpid()}"
    # What a run killed from outside may leave is removed afterwards, but only what this run made: the pods'
    # cgroups when no kubelet had made any before, the pods' network namespace files that were not there.
    pods_before = any(CGROUPS.glob("*/kubepods"))
    netns_before = set(NETNS_FILES.iterdir()) if NETNS_FILES.is_dir() else set()
    root = Path(tempfile.mkdtemp(prefix=f"{name}-"))
    netns_mounted_before = _mounted(NETNS_FILES)  # `ip netns add` makes /run/netns a mount of its own
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        inside = ["ip", "netns", "exec", name]
        subprocess.run([*inside, "ip", "link", "set", "lo", "up"], check=True)
        subprocess.run([*inside, "ip", "addr", "add", f"{NODE_ADDRESS}/32", "dev", "lo"], check=True)
        # Pods reach the node (CoreDNS, the API server) through the bridge: forwarding within the namespace.
        subprocess.run([*inside, "sysctl", "-qw", "net.ipv4.ip_forward=1"], check=True)
        environment = dict(os.environ, VAULTUI_NODE_NETNS=name, VAULTUI_NODE_ADDRESS=NODE_ADDRESS,
                           VAULTUI_NODE_ROOT=str(root))  # fmt: skip
        # Not `ip netns exec`: it mounts a sysfs of the namespace over /sys, which hides the cgroup hierarchies
        # the kubelet needs. The network namespace alone, and a mount namespace of the command's own (slave
        # to the machine's), so what the kubelet and containerd mount goes away with their processes.
        enter = ["nsenter", f"--net=/run/netns/{name}", "unshare", "--mount", "--propagation", "slave", "--"]
        child = subprocess.Popen([*enter, *command], env=environment)
        # An interrupt reaches the child through the terminal's process group; a TERM from CI is passed on.
        signal.signal(signal.SIGTERM, lambda *_: child.send_signal(signal.SIGTERM))
        return child.wait()
    finally:
        # Processes still in the namespace (a crashed run's shims) would keep it alive in the kernel.
        leftover = subprocess.run(["ip", "netns", "pids", name], capture_output=True, text=True).stdout.split()
        for pid in leftover:
            try:
                os.kill(int(pid), signal.SIGKILL)
            except (ProcessLookupError, ValueError):
                pass
        subprocess.run(["ip", "netns", "delete", name], check=False)
        if not pods_before:  # containers live in namespaces of their own: found by their cgroups
            remove_pod_cgroups(kill=True)
        for path in set(NETNS_FILES.iterdir()) - netns_before if NETNS_FILES.is_dir() else ():
            if path.name.startswith("cni-"):
                subprocess.run(["umount", "-l", str(path)], capture_output=True)
                path.unlink(missing_ok=True)
        shutil.rmtree(root, ignore_errors=True)
        if not netns_mounted_before and _mounted(NETNS_FILES) and not any(NETNS_FILES.iterdir()):
            subprocess.run(["umount", str(NETNS_FILES)], check=False)


def _mounted(path: Path) -> bool:
    return any(line.split()[4] == str(path) for line in Path("/proc/self/mountinfo").read_text().splitlines())


def remove_pod_cgroups(kill: bool) -> None:
    """The kubelet's `kubepods` cgroups in every hierarchy, removed bottom-up; with `kill`, the processes still
    in them are killed first (only for what a run of this bed made)."""
    for top in CGROUPS.glob("*/kubepods") if kill else ():
        for procs in top.rglob("cgroup.procs"):
            for pid in procs.read_text().split():
                try:
                    os.kill(int(pid), signal.SIGKILL)
                except ProcessLookupError:
                    pass
    for top in CGROUPS.glob("*/kubepods"):
        folders = sorted((p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True)
        for folder in [*folders, top]:
            for _ in range(20):  # a killed process leaves its cgroup a moment after the signal
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)


if __name__ == "__main__":
    arguments = sys.argv[1:]
    if arguments[:1] == ["--"]:
        arguments = arguments[1:]
    if not arguments:
        sys.exit("usage: python -m tests.bed.netns -- COMMAND...")
    sys.exit(run(arguments))
