"""Kubernetes: configuration (kubeconfig context or in-cluster), finding MongoDB StatefulSet pods."""

from __future__ import annotations

import copy
import json
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.config.config_exception import ConfigException
from urllib3.exceptions import HTTPError

from engine.common.errors import KubernetesError
from engine.restore.request import REQUEST_ENV

DEFAULT_IMAGE_HINT = "mongo"
# Restore Jobs run as this token-less ServiceAccount, never as the backup's (k8s/base/serviceaccount.yaml).
RESTORE_JOB_SERVICE_ACCOUNT = "vaultui-restore-job"
# The backup's storage Secret (writes new objects) becomes the restore's (reads) in a restore Job, so a restore
# never carries the backup credential; k8s/base/restore-admission.yaml admits no other Secret.
RESTORE_SECRETS = {"vaultui-s3-backup": "vaultui-s3-restore"}
# Encrypted archives open with the age identity of this optional Secret (key identity.txt), mounted only into
# restore Jobs: the backup CronJob holds public keys alone.
AGE_IDENTITY_SECRET = "vaultui-age-identity"
AGE_IDENTITY_DIR = "/var/run/vaultui-age"


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
            own = Path(mounted).read_text().strip() if os.path.exists(mounted) else "default"
            return KubeTarget(client.ApiClient(configuration), namespace or own, "in-cluster")
        except ConfigException as error:
            raise KubernetesError(f"in-cluster Kubernetes configuration is broken: {error}") from None
    # Read KUBECONFIG now, not when the kubernetes package was imported (its default is fixed at import).
    config_file = os.environ.get("KUBECONFIG") or os.path.expanduser("~/.kube/config")
    try:
        contexts, active = config.list_kube_config_contexts(config_file=config_file)
    except (ConfigException, OSError):
        raise KubernetesError(
            "no Kubernetes configuration: set KUBECONFIG (or create ~/.kube/config), or run vaultui in a pod"
        ) from None
    names = [item["name"] for item in contexts]
    chosen = context or (active or {}).get("name")
    if chosen not in names:
        raise KubernetesError(f"Kubernetes context {chosen!r} not found in the kubeconfig (it has: {', '.join(names)})")
    try:
        api = config.new_client_from_config(config_file=config_file, context=chosen)
    except ConfigException as error:
        raise KubernetesError(f"Kubernetes context {chosen!r} is unusable: {error}") from None
    context_namespace = next(item for item in contexts if item["name"] == chosen)["context"].get("namespace")
    return KubeTarget(api, namespace or context_namespace or "default", chosen)


def _admission_refusal(error: ApiException) -> str:
    """What an admission policy said when it refused the request ("" when none did: RBAC or anything else)."""
    try:
        message = str(json.loads(error.body or "{}").get("message", ""))
    except (ValueError, AttributeError):
        return ""
    _, found, said = message.partition("denied request: ")
    return said if found and "AdmissionPolicy" in message else ""


def explain(error: ApiException | HTTPError, verb: str, resource: str, namespace: str) -> KubernetesError:
    """One line for an API failure; a 403 names the missing permission."""
    if isinstance(error, ApiException):
        refused = _admission_refusal(error)
        if refused:
            return KubernetesError(
                f"the cluster's admission policy refused to {verb} {resource} in namespace {namespace!r}: {refused} "
                "(restore Jobs must be exactly the ones vaultui makes: see k8s/base/restore-admission.yaml)"
            )
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


def _serves_mongodb(port: client.V1ContainerPort) -> bool:
    return port.container_port == 27017 or "mongo" in (port.name or "")


def _runs_mongodb(statefulset: client.V1StatefulSet, image_hint: str) -> bool:
    """A container whose image looks like MongoDB's, or that serves the MongoDB port (27017, or a port named
    mongo…): a wire-compatible server under another image name (FerretDB, a private build) is one too."""
    containers = statefulset.spec.template.spec.containers or []
    return any(
        image_hint in (container.image or "").rsplit("/", 1)[-1]
        or any(_serves_mongodb(port) for port in container.ports or [])
        for container in containers
    )


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
            pods.append(
                MongoPod(
                    pod.metadata.name,
                    target.namespace,
                    statefulset.metadata.name,
                    statefulset.spec.service_name or statefulset.metadata.name,
                    _ready(pod),
                    pod.status.phase if pod.status and pod.status.phase else "Unknown",
                )
            )
    return sorted(pods, key=lambda pod: (pod.statefulset, pod.name))


def _ready(pod: client.V1Pod) -> bool:
    """The pod's Ready condition is True (what the kubelet says after the readiness probe)."""
    conditions = (pod.status.conditions or []) if pod.status else []
    return any(condition.type == "Ready" and condition.status == "True" for condition in conditions)


def find_pod(target: KubeTarget, name: str) -> MongoPod:
    """The named pod, with the StatefulSet that owns it and that StatefulSet's headless Service."""
    core, apps = client.CoreV1Api(target.api), client.AppsV1Api(target.api)
    try:
        pod = core.read_namespaced_pod(name, target.namespace)
    except ApiException as error:
        if error.status == 404:
            raise KubernetesError(f"pod {name!r} not found in namespace {target.namespace!r}") from None
        raise explain(error, "get", "pods", target.namespace) from None
    except HTTPError as error:
        raise explain(error, "get", "pods", target.namespace) from None
    owner = next((ref for ref in pod.metadata.owner_references or [] if ref.kind == "StatefulSet"), None)
    if owner is None:
        raise KubernetesError(f"pod {name!r} does not belong to a StatefulSet, so it has no stable DNS name")
    try:
        statefulset = apps.read_namespaced_stateful_set(owner.name, target.namespace)
    except (ApiException, HTTPError) as error:
        raise explain(error, "get", "statefulsets", target.namespace) from None
    return MongoPod(
        name,
        target.namespace,
        owner.name,
        statefulset.spec.service_name or owner.name,
        _ready(pod),
        pod.status.phase if pod.status and pod.status.phase else "Unknown",
    )


def mongodb_port(target: KubeTarget, pod: MongoPod) -> int:
    """The pod's MongoDB port: a container port named like mongo, else 27017."""
    spec = client.CoreV1Api(target.api).read_namespaced_pod(pod.name, target.namespace).spec
    for container in spec.containers:
        for port in container.ports or []:
            if _serves_mongodb(port):
                return int(port.container_port)
    return 27017


def _restore_secret(name: str | None) -> str | None:
    return RESTORE_SECRETS.get(name or "", name)


def restore_job(cronjob: client.V1CronJob, pod: MongoPod, port: int, request_json: str, name: str) -> client.V1Job:
    """A Job from the backup CronJob's pod template (same image, settings, volumes, security), that restores into
    one pod through its stable DNS name. The request travels whole, as JSON in an environment variable that the
    Job's `restore --request-env` parses with the same code that wrote it. The source URI's Secret also gives the
    target URI; --target-host points it at the pod. Not the backup's identity or credential: the pod runs as
    RESTORE_JOB_SERVICE_ACCOUNT with no API token, the backup's storage Secret swapped for the restore's, and
    without the source URI (a restore reads the storage, not the source)."""
    template = copy.deepcopy(cronjob.spec.job_template.spec.template)
    container = template.spec.containers[0]
    env = list(container.env or [])
    source = next((item for item in env if item.name == "VAULTUI_MONGO_URI"), None)
    if source is None:
        raise KubernetesError(f"CronJob {cronjob.metadata.name!r} sets no VAULTUI_MONGO_URI to derive the target URI")
    env = [item for item in env if item.name not in ("VAULTUI_MONGO_URI", "VAULTUI_TARGET_URI", REQUEST_ENV)]
    env.append(client.V1EnvVar(name="VAULTUI_TARGET_URI", value=source.value, value_from=source.value_from))
    env.append(client.V1EnvVar(name=REQUEST_ENV, value=request_json))
    for item in env:
        if item.value_from is not None and item.value_from.secret_key_ref is not None:
            item.value_from.secret_key_ref.name = _restore_secret(item.value_from.secret_key_ref.name)
    for source_ref in container.env_from or []:
        if source_ref.secret_ref is not None:
            source_ref.secret_ref.name = _restore_secret(source_ref.secret_ref.name)
    for volume in template.spec.volumes or []:
        if volume.secret is not None:
            volume.secret.secret_name = _restore_secret(volume.secret.secret_name)
    env = [item for item in env if item.name != "VAULTUI_AGE_IDENTITY_FILE"]
    env.append(client.V1EnvVar(name="VAULTUI_AGE_IDENTITY_FILE", value=f"{AGE_IDENTITY_DIR}/identity.txt"))
    template.spec.volumes = [volume for volume in template.spec.volumes or [] if volume.name != "age-identity"] + [
        client.V1Volume(
            name="age-identity",
            secret=client.V1SecretVolumeSource(secret_name=AGE_IDENTITY_SECRET, optional=True, default_mode=0o440),
        )
    ]
    container.volume_mounts = [mount for mount in container.volume_mounts or [] if mount.name != "age-identity"] + [
        client.V1VolumeMount(name="age-identity", mount_path=AGE_IDENTITY_DIR, read_only=True)
    ]
    container.env = env
    container.command = None
    container.args = ["--headless", "restore", "--request-env", "--target-host", f"{pod.dns_name}:{port}"]
    labels = {
        "app.kubernetes.io/name": "vaultui",
        "app.kubernetes.io/component": "restore",
        "vaultui.io/target-pod": pod.name,
    }
    template.metadata = client.V1ObjectMeta(labels=labels)
    template.spec.restart_policy = "Never"
    template.spec.service_account_name = RESTORE_JOB_SERVICE_ACCOUNT
    template.spec.service_account = None  # the deprecated alias would name the CronJob's identity
    template.spec.automount_service_account_token = False
    return client.V1Job(
        api_version="batch/v1",
        kind="Job",
        metadata=client.V1ObjectMeta(name=name, labels=labels, annotations={"vaultui.io/request": request_json}),
        spec=client.V1JobSpec(backoff_limit=0, ttl_seconds_after_finished=7 * 86400, template=template),
    )


def start_restore_job(
    target: KubeTarget, pod_name: str, request_json: str, *, cronjob: str = "vaultui-backup"
) -> client.V1Job:
    pod = find_pod(target, pod_name)
    try:
        template = client.BatchV1Api(target.api).read_namespaced_cron_job(cronjob, target.namespace)
    except ApiException as error:
        if error.status == 404:
            raise KubernetesError(
                f"CronJob {cronjob!r} not found in {target.namespace!r}: restore Jobs copy its pod template "
                "(install k8s/base, or name yours)",
                setting="cronjob",
            ) from None
        raise explain(error, "get", "cronjobs", target.namespace) from None
    except HTTPError as error:
        raise explain(error, "get", "cronjobs", target.namespace) from None
    name = f"vaultui-restore-{pod.name}-{uuid.uuid4().hex[:5]}"[:63]
    job = restore_job(template, pod, mongodb_port(target, pod), request_json, name)
    try:
        created: client.V1Job = client.BatchV1Api(target.api).create_namespaced_job(target.namespace, job)
    except (ApiException, HTTPError) as error:
        raise explain(error, "create", "jobs", target.namespace) from None
    return created


@dataclass(frozen=True)
class JobOutcome:
    name: str
    succeeded: bool
    reason: str
    logs: str


def _job_logs(target: KubeTarget, job: str, lines: int = 20) -> str:
    core = client.CoreV1Api(target.api)
    try:
        pods = core.list_namespaced_pod(target.namespace, label_selector=f"job-name={job}").items
        if not pods:
            return ""
        return str(core.read_namespaced_pod_log(pods[-1].metadata.name, target.namespace, tail_lines=lines))
    except (ApiException, HTTPError):
        return ""  # no kubelet (or no pod yet): logs are a courtesy, the status is the truth


def follow_job(
    target: KubeTarget,
    name: str,
    *,
    timeout: float = 3600,
    poll: float = 2.0,
    on_status: Callable[[str], None] | None = None,
) -> JobOutcome:
    """Polls the Job until it succeeds or fails (or `timeout`); returns its last log lines. The Job runs in
    the cluster, so a dropped laptop connection does not stop the restore: follow it again by name."""
    batch = client.BatchV1Api(target.api)
    deadline = time.monotonic() + timeout
    last = ""
    while True:
        try:
            status = batch.read_namespaced_job(name, target.namespace).status
        except (ApiException, HTTPError) as error:
            raise explain(error, "get", "jobs", target.namespace) from None
        conditions = {condition.type: condition for condition in status.conditions or [] if condition.status == "True"}
        if "Complete" in conditions:
            return JobOutcome(name, True, "completed", _job_logs(target, name))
        if "Failed" in conditions:
            failed = conditions["Failed"]
            return JobOutcome(
                name, False, f"{failed.reason or 'Failed'}: {failed.message or ''}".strip(": "), _job_logs(target, name)
            )
        text = f"active {status.active or 0}, failed {status.failed or 0}"
        if on_status and text != last:
            on_status(text)
            last = text
        if time.monotonic() >= deadline:
            raise KubernetesError(f"Job {name} still running after {timeout:.0f} s: follow it with kubectl")
        time.sleep(poll)
