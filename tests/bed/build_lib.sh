# Shared by build.sh and build_node.sh: the versions the bed pins, and the helpers both builds use.

FERRETDB_VERSION=v1.24.2
# mongo-tools tags have no "v" prefix, so the Go module proxy serves releases only as pseudo-versions.
# This commit is the 100.12.2 release (its CHANGELOG opens with 100.12.2).
MONGO_TOOLS_RELEASE=100.12.2
MONGO_TOOLS_COMMIT=887641268977
MONGO_TOOLS_MODULE_VERSION=v0.0.0-20250715155915-${MONGO_TOOLS_COMMIT}

# Kubernetes: the API server and etcd for the API-side tests (build.sh); the whole node for `make test-cluster`
# (build_node.sh).
KUBERNETES_VERSION=v1.34.4
KUBERNETES_STAGING_VERSION=v0.34.4
ETCD_VERSION=v3.6.16
KUSTOMIZE_VERSION=v5.7.1

COREDNS_VERSION=v1.14.7

# The alerting bed (make test): promtool and Prometheus (the module's v0.3xx.y is Prometheus 3.xx.y),
# Alertmanager and the Pushgateway.
PROMETHEUS_VERSION=v0.316.0
ALERTMANAGER_VERSION=v0.35.0
PUSHGATEWAY_VERSION=v1.11.1

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

kubernetes_module() { # kubernetes_module DIR: a consumer module of k8s.io/kubernetes that builds its commands
  # k8s.io/kubernetes replaces its staging modules with folders of its own repository; a consumer module
  # must point each of them at its published version instead.
  local work=$1 staging
  rm -rf "$work" && mkdir -p "$work"
  (cd "$work" && go mod init vaultui.testbed/kubernetes >/dev/null 2>&1)
  staging=$(cd "$work" && go list -m -json "k8s.io/kubernetes@$KUBERNETES_VERSION" \
    | sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p' \
    | xargs sed -n 's#^[[:space:]]*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\1#p')
  for module in $staging; do
    (cd "$work" && go mod edit -replace "$module=$module@$KUBERNETES_STAGING_VERSION")
  done
  (cd "$work" && go get "k8s.io/kubernetes@$KUBERNETES_VERSION" >/dev/null)
}

build_kube_command() { # build_kube_command MODULE_DIR NAME OUT_DIR: one of k8s.io/kubernetes/cmd/*, versioned
  # Without the version stamped in, every binary says v0.0.0-master (and the kubelet registers so).
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  (cd "$1" && go build -trimpath -ldflags "-X k8s.io/component-base/version.gitVersion=$KUBERNETES_VERSION \
      -X k8s.io/component-base/version.gitMajor=1 -X k8s.io/component-base/version.gitMinor=$minor" \
    -o "$3/$2.tmp" "k8s.io/kubernetes/cmd/$2") \
    && mv "$3/$2.tmp" "$3/$2"  # `&&`: set -e is off inside a function called from `||`
}
