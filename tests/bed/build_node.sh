#!/usr/bin/env bash
# Builds, once and cached by version outside the repo, what a real single-node cluster needs beside the bed's
# FerretDB and mongo-tools (build.sh): the Kubernetes control plane and kubelet, CoreDNS, a pause image, and the
# base layers of the images the cluster tests run (vaultui's Python root filesystem with the locked wheels,
# FerretDB as a static binary). The container runtime and CNI plugins are Debian's packages (containerd, runc,
# containernetworking-plugins, iptables, conntrack), installed here when missing. A warm run only checks the cache.
# `make test-cluster` runs it; `make test` does not need it.
set -euo pipefail
cd "$(dirname "$0")/../.."

source tests/bed/build_lib.sh
DEBIAN_SUITE=bookworm

CACHE="${VAULTUI_TESTBED_CACHE:-$HOME/.cache/vaultui-testbed}"
NODE_DIR="$CACHE/node-kubernetes-$KUBERNETES_VERSION"
COREDNS_DIR="$CACHE/coredns-$COREDNS_VERSION"
IMAGES_DIR="$CACHE/images"
# The Python root filesystem is keyed by the locked wheels it holds: a new lock builds a new one.
LOCK_KEY=$(sha256sum requirements/image.lock requirements/build.lock | sha256sum | cut -c1-12)
PYTHON_ROOTFS="$IMAGES_DIR/python-rootfs-$DEBIAN_SUITE-$LOCK_KEY.tar"
FERRETDB_LAYER="$IMAGES_DIR/ferretdb-$FERRETDB_VERSION-static.tar"


debian_packages() {
  local missing=() package
  for package in containerd runc containernetworking-plugins iptables conntrack debootstrap iproute2 util-linux; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
  done
  [ ${#missing[@]} -eq 0 ] && return
  [ "$(id -u)" = 0 ] || { echo "testbed: the node needs Debian's ${missing[*]} (run as root, or apt-get install them)" >&2; exit 1; }
  echo "testbed: installing ${missing[*]} ..."
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

build_node_binaries() {
  local work command; work=$(mktemp -d)
  kubernetes_module "$work"
  for command in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
    timed "$command $KUBERNETES_VERSION" build_kube_command "$work" "$command" "$NODE_DIR/bin"
  done
  rm -rf "$work"
}

build_coredns() {
  GOBIN="$COREDNS_DIR/bin" CGO_ENABLED=0 go install "github.com/coredns/coredns@$COREDNS_VERSION"
}

build_pause() {
  # The sandbox image every pod starts with: a static process that reaps children and exits on SIGTERM.
  local work; work=$(mktemp -d)
  mkdir -p "$work/src" "$work/root"
  cat > "$work/src/main.go" <<'GO'
package main

import (
	"os"
	"os/signal"
	"syscall"
)

func main() {
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for received := range signals {
		if received != syscall.SIGCHLD {
			return
		}
		for {
			if pid, _ := syscall.Wait4(-1, nil, syscall.WNOHANG, nil); pid <= 0 {
				break
			}
		}
	}
}
GO
  (cd "$work/src" && go mod init vaultui.testbed/pause >/dev/null 2>&1 && CGO_ENABLED=0 go build -trimpath -o "$work/root/pause" .)
  tar -C "$work/root" --numeric-owner --owner=0 --group=0 -cf "$IMAGES_DIR/pause-layer.tar.tmp" pause
  mv "$IMAGES_DIR/pause-layer.tar.tmp" "$IMAGES_DIR/pause-layer.tar"
  rm -rf "$work"
}

build_ferretdb_layer() {
  # The same FerretDB as the bed's, without cgo: one static file, so its image needs nothing else.
  local work src; work=$(mktemp -d)
  src=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  mkdir -p "$work/src" && cp -r "$src/." "$work/src/"
  chmod -R u+w "$work/src"
  echo "$FERRETDB_VERSION" > "$work/src/build/version/version.txt"
  mkdir -p "$work/root/usr/local/bin" "$work/root/tmp" "$work/root/data/db"
  chmod 1777 "$work/root/tmp"
  (cd "$work/src" && CGO_ENABLED=0 go build -trimpath -o "$work/root/usr/local/bin/ferretdb" ./cmd/ferretdb)
  tar -C "$work/root" --numeric-owner --owner=0 --group=0 -cf "$FERRETDB_LAYER.tmp" .
  mv "$FERRETDB_LAYER.tmp" "$FERRETDB_LAYER"
  rm -rf "$work"
}

build_python_rootfs() {
  # What the Dockerfile's runtime stage holds, from Debian's packages instead of the python image: Debian's
  # python3, a venv at /opt/vaultui filled with the locked wheels (hash-checked, wheels only) by a build venv's
  # pip that is not kept, and the vaultui user. The project itself is a layer of its own, made per test session.
  local root; root=$(mktemp -d)
  trap "rm -rf '$root'" EXIT
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates "$DEBIAN_SUITE" "$root" \
    "$(sed -n 's/^URIs: //p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1 || echo http://deb.debian.org/debian)" >/dev/null
  cp requirements/build.lock requirements/image.lock "$root/tmp/"
  cp /etc/resolv.conf "$root/etc/resolv.conf"
  # The machine's own CA bundle, for the build venv's pip only (some networks reach PyPI through a proxy with a
  # CA of their own); removed with the build venv.
  cp /etc/ssl/certs/ca-certificates.crt "$root/tmp/build-ca.crt"
  # A clean environment: the machine's own PIP_* and SSL_* settings name files of the machine, not of the root.
  env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 chroot "$root" /bin/sh -ec '
    export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
    python3 -m venv /opt/build
    python3 -m venv --without-pip /opt/vaultui
    /opt/build/bin/pip --python /opt/vaultui/bin/python install --quiet --cert /tmp/build-ca.crt \
      --require-hashes --no-deps --only-binary=:all: -r /tmp/image.lock
    rm -rf /opt/build /tmp/build.lock /tmp/image.lock /tmp/build-ca.crt
    useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin vaultui
    apt-get clean
    rm -rf /var/lib/apt/lists/* /var/cache/apt/*
  '
  : > "$root/etc/resolv.conf"   # the kubelet writes a pod's own
  tar -C "$root" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$PYTHON_ROOTFS.tmp" .
  mv "$PYTHON_ROOTFS.tmp" "$PYTHON_ROOTFS"
  rm -rf "$root"
}

debian_packages
mkdir -p "$NODE_DIR/bin" "$COREDNS_DIR/bin" "$IMAGES_DIR"
for command in kube-apiserver kube-controller-manager kube-scheduler kubelet kubectl; do
  [ -x "$NODE_DIR/bin/$command" ] || { build_node_binaries; break; }
done
[ -x "$COREDNS_DIR/bin/coredns" ] || timed "CoreDNS $COREDNS_VERSION" build_coredns
[ -f "$IMAGES_DIR/pause-layer.tar" ] || timed "the pause image" build_pause
[ -f "$FERRETDB_LAYER" ] || timed "FerretDB $FERRETDB_VERSION without cgo" build_ferretdb_layer
[ -f "$PYTHON_ROOTFS" ] || timed "the Python root filesystem ($DEBIAN_SUITE, the locked wheels)" build_python_rootfs

cat > "$CACHE/node-paths.env" <<ENV
VAULTUI_NODE_BIN=$NODE_DIR/bin
VAULTUI_COREDNS=$COREDNS_DIR/bin/coredns
VAULTUI_PAUSE_LAYER=$IMAGES_DIR/pause-layer.tar
VAULTUI_FERRETDB_LAYER=$FERRETDB_LAYER
VAULTUI_PYTHON_ROOTFS=$PYTHON_ROOTFS
VAULTUI_KUBERNETES_VERSION=$KUBERNETES_VERSION
ENV
echo "testbed: node ready: Kubernetes $KUBERNETES_VERSION, CoreDNS $COREDNS_VERSION, containerd $(dpkg-query -W -f='${Version}' containerd), in $CACHE"
