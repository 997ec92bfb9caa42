#!/usr/bin/env bash
# Builds the test bed's real servers and tools once, cached by version outside the repo:
#   FerretDB (MongoDB wire protocol, SQLite backend) and mongodump/mongorestore/bsondump from mongo-tools.
# Everything comes through the Go module proxy; a warm run only checks the cache and prints where it is.
set -euo pipefail

FERRETDB_VERSION=v1.24.2
# mongo-tools tags have no "v" prefix, so the Go module proxy serves releases only as pseudo-versions.
# This commit is the 100.12.2 release (its CHANGELOG opens with 100.12.2).
MONGO_TOOLS_RELEASE=100.12.2
MONGO_TOOLS_COMMIT=887641268977
MONGO_TOOLS_MODULE_VERSION=v0.0.0-20250715155915-${MONGO_TOOLS_COMMIT}

CACHE="${VAULTUI_TESTBED_CACHE:-$HOME/.cache/vaultui-testbed}"
FERRETDB_DIR="$CACHE/ferretdb-$FERRETDB_VERSION"
TOOLS_DIR="$CACHE/mongo-tools-$MONGO_TOOLS_RELEASE"

command -v go >/dev/null || { echo "testbed: Go is required (https://go.dev); it builds FerretDB and mongo-tools" >&2; exit 1; }

export GOFLAGS="-mod=mod -buildvcs=false"
# The checksum database does not know mongo-tools' untagged pseudo-versions; the proxy still serves them.
export GONOSUMDB="github.com/mongodb/mongo-tools"

timed() { # timed LABEL command...: run and print how long it took
  local label=$1 start=$SECONDS; shift
  echo "testbed: building $label ..."
  "$@"
  echo "testbed: built $label in $((SECONDS - start)) s"
}

consumer_module() { # consumer_module DIR MODULE@VERSION: a throwaway go.mod that requires MODULE
  local dir=$1 requirement=$2
  rm -rf "$dir" && mkdir -p "$dir"
  (cd "$dir" && go mod init vaultui.testbed/build >/dev/null 2>&1 && go get "$requirement" >/dev/null)
}

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

mkdir -p "$FERRETDB_DIR/bin" "$TOOLS_DIR/bin"
[ -x "$FERRETDB_DIR/bin/ferretdb" ] || timed "FerretDB $FERRETDB_VERSION" build_ferretdb
[ -x "$TOOLS_DIR/bin/bsondump" ] && [ -x "$TOOLS_DIR/bin/mongorestore" ] && [ -x "$TOOLS_DIR/bin/mongodump" ] \
  || timed "mongo-tools $MONGO_TOOLS_RELEASE ($MONGO_TOOLS_COMMIT)" build_mongo_tools

# The mongo-tools module source also holds real mongodump output from real MongoDB servers (its test data),
# which the tests read where FerretDB cannot produce a case.
TOOLS_SOURCE=$(go mod download -json "github.com/mongodb/mongo-tools@$MONGO_TOOLS_MODULE_VERSION" \
  | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')

# One file the pytest fixtures and `make demo` read to find the binaries.
cat > "$CACHE/paths.env" <<ENV
VAULTUI_FERRETDB=$FERRETDB_DIR/bin/ferretdb
VAULTUI_MONGO_TOOLS=$TOOLS_DIR/bin
VAULTUI_MONGO_TOOLS_SOURCE=$TOOLS_SOURCE
ENV
echo "testbed: ready: FerretDB $FERRETDB_VERSION, mongo-tools $MONGO_TOOLS_RELEASE, in $CACHE"
