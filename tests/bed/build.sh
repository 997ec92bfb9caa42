#!/usr/bin/env bash
# Builds the test bed's real servers and tools once, cached by version outside the repo:
#   FerretDB (MongoDB wire protocol, SQLite backend) and mongodump/mongorestore/bsondump from mongo-tools.
# Everything comes through the Go module proxy; a warm run only checks the cache and prints where it is.
set -euo pipefail

source "$(dirname "$0")/build_lib.sh"

CACHE="${VAULTUI_TESTBED_CACHE:-$HOME/.cache/vaultui-testbed}"
FERRETDB_DIR="$CACHE/ferretdb-$FERRETDB_VERSION"
TOOLS_DIR="$CACHE/mongo-tools-$MONGO_TOOLS_RELEASE"
KUBE_DIR="$CACHE/kubernetes-$KUBERNETES_VERSION-etcd-$ETCD_VERSION"
KUSTOMIZE_DIR="$CACHE/kustomize-$KUSTOMIZE_VERSION"
MONITORING_DIR="$CACHE/monitoring-prometheus-$PROMETHEUS_VERSION-alertmanager-$ALERTMANAGER_VERSION-pushgateway-$PUSHGATEWAY_VERSION"

command -v go >/dev/null || { echo "testbed: Go is required (https://go.dev); it builds FerretDB and mongo-tools" >&2; exit 1; }

build_ferretdb() {
  # Built from a writable copy of the module source: FerretDB embeds build/version/version.txt, which
  # its release process generates and the module zip lacks, and panics at start without it.
  local work src; work=$(mktemp -d)
  src=$(go mod download -json "github.com/FerretDB/FerretDB@$FERRETDB_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  cp -r "$src/." "$work/" && chmod -R u+w "$work"
  echo "$FERRETDB_VERSION" > "$work/build/version/version.txt"
  (cd "$work" && go build -trimpath -o "$FERRETDB_DIR/bin/ferretdb.tmp" ./cmd/ferretdb)
  mv "$FERRETDB_DIR/bin/ferretdb.tmp" "$FERRETDB_DIR/bin/ferretdb"
  rm -rf "$work"
}

build_mongo_tools() {
  local work tool; work=$(mktemp -d)
  consumer_module "$work" "github.com/mongodb/mongo-tools@$MONGO_TOOLS_MODULE_VERSION"
  for tool in mongodump mongorestore bsondump; do
    (cd "$work" && go build -trimpath \
      -ldflags "-X main.VersionStr=$MONGO_TOOLS_RELEASE -X main.GitCommit=$MONGO_TOOLS_COMMIT" \
      -o "$TOOLS_DIR/bin/$tool.tmp" "github.com/mongodb/mongo-tools/$tool/main")
    mv "$TOOLS_DIR/bin/$tool.tmp" "$TOOLS_DIR/bin/$tool"
  done
  rm -rf "$work"
}

build_kubernetes() {
  local work; work=$(mktemp -d)
  kubernetes_module "$work"
  build_kube_command "$work" kube-apiserver "$KUBE_DIR/bin"
  # etcd gets a module of its own, whose dependency versions differ from the API server's: a tiny main
  # that runs the real etcd server.
  mkdir -p "$work/etcd"
  cat > "$work/etcd/main.go" <<'GO'
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
GO
  (cd "$work/etcd" && go mod init vaultui.testbed/etcd >/dev/null 2>&1 \
    && go get "go.etcd.io/etcd/server/v3@$ETCD_VERSION" >/dev/null && go mod tidy >/dev/null 2>&1 \
    && go build -trimpath -o "$KUBE_DIR/bin/etcd.tmp" .)
  mv "$KUBE_DIR/bin/etcd.tmp" "$KUBE_DIR/bin/etcd"
  rm -rf "$work"
}

module_dir() { # module_dir MODULE@VERSION: where the Go module cache holds that module's source
  go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

build_monitoring() {
  local work; work=$(mktemp -d)
  # promtool and prometheus: built in a consumer module (go install of a version reads the module's version
  # list for deprecations, which the proxy refuses for some of these modules). No web UI assets: the API is
  # what the tests use.
  consumer_module "$work/prometheus" "github.com/prometheus/prometheus@$PROMETHEUS_VERSION"
  for command in promtool prometheus; do
    (cd "$work/prometheus" && go build -trimpath -o "$MONITORING_DIR/bin/$command.tmp" \
      "github.com/prometheus/prometheus/cmd/$command") && mv "$MONITORING_DIR/bin/$command.tmp" "$MONITORING_DIR/bin/$command"
  done
  # Alertmanager embeds its web UI's built files (ui/app/dist), which the module zip lacks: built from a
  # writable copy with an empty placeholder there (the UI is not used; the API and the webhook are).
  mkdir -p "$work/alertmanager"
  cp -r "$(module_dir "github.com/prometheus/alertmanager@$ALERTMANAGER_VERSION")/." "$work/alertmanager/"
  chmod -R u+w "$work/alertmanager" && mkdir -p "$work/alertmanager/ui/app/dist"
  echo "<!-- built without its UI -->" > "$work/alertmanager/ui/app/dist/index.html"
  (cd "$work/alertmanager" && go build -trimpath -o "$MONITORING_DIR/bin/alertmanager.tmp" ./cmd/alertmanager) \
    && mv "$MONITORING_DIR/bin/alertmanager.tmp" "$MONITORING_DIR/bin/alertmanager"
  consumer_module "$work/pushgateway" "github.com/prometheus/pushgateway@$PUSHGATEWAY_VERSION"
  (cd "$work/pushgateway" && go build -trimpath -o "$MONITORING_DIR/bin/pushgateway.tmp" github.com/prometheus/pushgateway) \
    && mv "$MONITORING_DIR/bin/pushgateway.tmp" "$MONITORING_DIR/bin/pushgateway"
  rm -rf "$work"
}

build_kustomize() {
  GOBIN="$KUSTOMIZE_DIR/bin" go install "sigs.k8s.io/kustomize/kustomize/v5@$KUSTOMIZE_VERSION"
}

mkdir -p "$FERRETDB_DIR/bin" "$TOOLS_DIR/bin" "$KUBE_DIR/bin" "$KUSTOMIZE_DIR/bin" "$MONITORING_DIR/bin"
[ -x "$FERRETDB_DIR/bin/ferretdb" ] || timed "FerretDB $FERRETDB_VERSION" build_ferretdb
[ -x "$TOOLS_DIR/bin/bsondump" ] && [ -x "$TOOLS_DIR/bin/mongorestore" ] && [ -x "$TOOLS_DIR/bin/mongodump" ] \
  || timed "mongo-tools $MONGO_TOOLS_RELEASE ($MONGO_TOOLS_COMMIT)" build_mongo_tools
if [ "${VAULTUI_TESTBED_KUBERNETES:-1}" = 1 ]; then
  [ -x "$KUBE_DIR/bin/kube-apiserver" ] && [ -x "$KUBE_DIR/bin/etcd" ] \
    || timed "kube-apiserver $KUBERNETES_VERSION and etcd $ETCD_VERSION" build_kubernetes
  [ -x "$KUSTOMIZE_DIR/bin/kustomize" ] || timed "kustomize $KUSTOMIZE_VERSION" build_kustomize
fi

[ -x "$MONITORING_DIR/bin/promtool" ] && [ -x "$MONITORING_DIR/bin/prometheus" ] \
  && [ -x "$MONITORING_DIR/bin/alertmanager" ] && [ -x "$MONITORING_DIR/bin/pushgateway" ] \
  || timed "Prometheus $PROMETHEUS_VERSION, Alertmanager $ALERTMANAGER_VERSION, Pushgateway $PUSHGATEWAY_VERSION" \
    build_monitoring

# The mongo-tools module source also holds real mongodump output from real MongoDB servers (its test data),
# which the tests read where FerretDB cannot produce a case.
TOOLS_SOURCE=$(go mod download -json "github.com/mongodb/mongo-tools@$MONGO_TOOLS_MODULE_VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')

# One file the pytest fixtures and `make demo` read to find the binaries.
cat > "$CACHE/paths.env" <<ENV
VAULTUI_FERRETDB=$FERRETDB_DIR/bin/ferretdb
VAULTUI_MONGO_TOOLS=$TOOLS_DIR/bin
VAULTUI_MONGO_TOOLS_SOURCE=$TOOLS_SOURCE
VAULTUI_KUBE_APISERVER=$KUBE_DIR/bin/kube-apiserver
VAULTUI_ETCD=$KUBE_DIR/bin/etcd
VAULTUI_KUSTOMIZE=$KUSTOMIZE_DIR/bin/kustomize
VAULTUI_MONITORING=$MONITORING_DIR/bin
ENV
echo "testbed: ready: FerretDB $FERRETDB_VERSION, mongo-tools $MONGO_TOOLS_RELEASE, in $CACHE"
