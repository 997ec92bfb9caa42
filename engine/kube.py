"""Kubernetes: configuration (kubeconfig context or in-cluster), finding MongoDB StatefulSet pods."""

from __future__ import annotations

import os
from dataclasses import dataclass

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from engine.errors import ExitCode, VaultError

DEFAULT_IMAGE_HINT = "mongo"


class KubernetesError(VaultError):
    exit_code = ExitCode.KUBERNETES


@dataclass(frozen=True)
class KubeTarget:
    """An API client and the namespace to work in."""

    api: client.ApiClient
    namespace: str
    context: str


def connect(context: str | None = None, namespace: str | None = None) -> KubeTarget:
    """The in-cluster configuration inside a pod (unless a context is asked for), else the kubeconfig."""
    if context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
        try:
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            mounted = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
            own = open(mounted).read().strip() if os.path.exists(mounted) else "default"
            return KubeTarget(client.ApiClient(configuration), namespace or own, "in-cluster")
        except ConfigException as error:
            raise KubernetesError(f"in-cluster Kubernetes configuration is broken: {error}") from None
    try:
        contexts, active = config.list_kube_config_contexts()
    except (ConfigException, OSError):
        raise KubernetesError(
            "no Kubernetes configuration: set KUBECONFIG (or create ~/.kube/config), or run vaultui in a pod"
        ) from None
    names = [item["name"] for item in contexts]
    chosen = context or (active or {}).get("name")
    if chosen not in names:
        raise KubernetesError(f"Kubernetes context {chosen!r} not found in the kubeconfig (it has: {', '.join(names)})")
    try:
        api = config.new_client_from_config(context=chosen)
    except ConfigException as error:
        raise KubernetesError(f"Kubernetes context {chosen!r} is unusable: {error}") from None
    context_namespace = next(item for item in contexts if item["name"] == chosen)["context"].get("namespace")
    return KubeTarget(api, namespace or context_namespace or "default", chosen)


def explain(error: ApiException | HTTPError, verb: str, resource: str, namespace: str) -> KubernetesError:
    """One line for an API failure; a 403 names the missing permission."""
    if isinstance(error, ApiException):
        if error.status == 403:
            return KubernetesError(
                f"forbidden: cannot {verb} {resource} in namespace {namespace!r}; grant the verb {verb!r} on "
                f"{resource!r} to this identity (see k8s/base/rbac.yaml)"
            )
        if error.status == 401:
            return KubernetesError("the Kubernetes API rejected the credentials (401): refresh the kubeconfig")
        if error.status == 404:
            return KubernetesError(f"{resource} not found in namespace {namespace!r}")
        return KubernetesError(f"cannot {verb} {resource} in {namespace!r}: {error.status} {error.reason}")
    return KubernetesError(f"cannot reach the Kubernetes API to {verb} {resource}: {error}")


@dataclass(frozen=True)
class MongoPod:
    name: str
    namespace: str
    statefulset: str
    service: str
    ready: bool
    phase: str

    @property
    def dns_name(self) -> str:
        """The pod's stable name through the StatefulSet's headless Service."""
        return f"{self.name}.{self.service}.{self.namespace}.svc.cluster.local"


def _runs_mongodb(statefulset: client.V1StatefulSet, image_hint: str) -> bool:
    containers = statefulset.spec.template.spec.containers or []
    return any(image_hint in (container.image or "").rsplit("/", 1)[-1] for container in containers)


def list_mongodb_pods(
    target: KubeTarget, *, selector: str | None = None, image_hint: str = DEFAULT_IMAGE_HINT
) -> list[MongoPod]:
    """Pods of the StatefulSets that run MongoDB: those matching `selector` when given, else those whose
    container image looks like MongoDB; with their readiness, ordered by StatefulSet and pod name."""
    apps, core = client.AppsV1Api(target.api), client.CoreV1Api(target.api)
    try:
        statefulsets = apps.list_namespaced_stateful_set(target.namespace, label_selector=selector or "").items
    except (ApiException, HTTPError) as error:
        raise explain(error, "list", "statefulsets", target.namespace) from None
    pods: list[MongoPod] = []
    for statefulset in statefulsets:
        if not selector and not _runs_mongodb(statefulset, image_hint):
            continue
        labels = statefulset.spec.selector.match_labels or {}
        try:
            found = core.list_namespaced_pod(
                target.namespace, label_selector=",".join(f"{key}={value}" for key, value in labels.items())
            ).items
        except (ApiException, HTTPError) as error:
            raise explain(error, "list", "pods", target.namespace) from None
        for pod in found:
            conditions = pod.status.conditions or [] if pod.status else []
            ready = any(condition.type == "Ready" and condition.status == "True" for condition in conditions)
            pods.append(
                MongoPod(
                    pod.metadata.name,
                    target.namespace,
                    statefulset.metadata.name,
                    statefulset.spec.service_name or statefulset.metadata.name,
                    ready,
                    pod.status.phase if pod.status and pod.status.phase else "Unknown",
                )
            )
    return sorted(pods, key=lambda pod: (pod.statefulset, pod.name))
