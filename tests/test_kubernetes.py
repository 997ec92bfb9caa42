"""The cluster side against a real kube-apiserver (with etcd; no kubelet, scheduler or controllers):
every manifest passes server-side dry-run, pods are discovered, restore Jobs are made right and followed,
and the Role is enough for every call, as the restore ServiceAccount itself (least privilege: test_rbac.py)."""

from __future__ import annotations

import copy
import os
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient

from engine.common.remap import Rename
from engine.kube import cluster as kube
from engine.restore.request import REQUEST_ENV, RestoreRequest, request_to_json
from tests.bed.kubernetes import Cluster
from tests.helpers import run_vaultui
from vaultui.exit_codes import ExitCode

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def api(cluster: Cluster) -> client.ApiClient:
    return config.new_client_from_config(config_file=str(cluster.kubeconfig))


@pytest.fixture
def namespace(api: client.ApiClient) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(api).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name


def rendered(bed_binaries: dict[str, Path], folder: str) -> list[dict]:
    output = subprocess.run(
        [str(bed_binaries["kustomize"]), "build", str(ROOT / "k8s" / folder)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [document for document in yaml.safe_load_all(output) if document]


def apply(api: client.ApiClient, documents: list[dict], namespace: str, dry_run: bool = False) -> None:
    """Creates each document in `namespace`; the cluster-scoped ones (the admission policy and its binding,
    shared by every namespace) are applied server-side, so each test's install leaves them as the manifest says."""
    dynamic = DynamicClient(api)
    options = {"dry_run": "All"} if dry_run else {}
    for document in documents:
        resource = dynamic.resources.get(api_version=document["apiVersion"], kind=document["kind"])
        if not resource.namespaced:
            document.setdefault("metadata", {}).pop("namespace", None)
            resource.server_side_apply(body=document, field_manager="vaultui-tests", force_conflicts=True, **options)
            continue
        document.setdefault("metadata", {})["namespace"] = namespace
        resource.create(body=document, namespace=namespace, **options)


@pytest.mark.parametrize("folder", ["base", "overlays/example"])
def test_every_manifest_passes_server_side_dry_run(
    folder: str, api: client.ApiClient, namespace: str, bed_binaries: dict[str, Path]
) -> None:
    documents = rendered(bed_binaries, folder)
    kinds = sorted(document["kind"] for document in documents)
    assert {"CronJob", "Role", "RoleBinding", "ServiceAccount", "ConfigMap"} <= set(kinds)
    apply(api, documents, namespace, dry_run=True)  # raises ApiException on any rejected field
    if folder == "overlays/example":
        statefulset = next(document for document in documents if document["kind"] == "StatefulSet")
        [sidecar] = statefulset["spec"]["template"]["spec"]["initContainers"]
        assert sidecar["restartPolicy"] == "Always" and "--if-empty" in sidecar["args"][0]
        assert statefulset["spec"]["template"]["spec"]["containers"][0]["args"][:2] == ["--replSet", "rs0"]
        capture = next(document for document in documents if document["kind"] == "Deployment")
        assert capture["spec"]["replicas"] == 1 and capture["spec"]["strategy"]["type"] == "Recreate"
        pod = capture["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["containers"][0]["args"][:2] == ["--headless", "oplog"]
    cronjobs = {document["metadata"]["name"]: document for document in documents if document["kind"] == "CronJob"}
    assert {name: cronjob["spec"]["concurrencyPolicy"] for name, cronjob in cronjobs.items()} == {
        "vaultui-backup": "Forbid",
        "vaultui-purge": "Forbid",
    }
    pods = {name: cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"] for name, cronjob in cronjobs.items()}
    assert pods["vaultui-backup"]["containers"][0]["args"] == ["--headless", "backup"]
    assert pods["vaultui-purge"]["containers"][0]["args"] == ["--headless", "purge"]
    assert all(pod["automountServiceAccountToken"] is False for pod in pods.values())
    rules = next(document for document in documents if document["kind"] == "Role")["rules"]
    assert not any("secrets" in rule["resources"] for rule in rules)


def make_mongodb(api: client.ApiClient, namespace: str, ready: bool = True) -> None:
    """A StatefulSet and its pod as a kubelet would leave them (there is none: the test sets pod status)."""
    labels = {"app": "mongodb"}
    container = client.V1Container(
        name="mongod", image="mongo:7.0", ports=[client.V1ContainerPort(container_port=27017, name="mongodb")]
    )
    statefulset = client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="mongodb"),
        spec=client.V1StatefulSetSpec(
            service_name="mongodb-headless",
            replicas=1,
            selector=client.V1LabelSelector(match_labels=labels),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels=labels), spec=client.V1PodSpec(containers=[container])
            ),
        ),
    )
    created = client.AppsV1Api(api).create_namespaced_stateful_set(namespace, statefulset)
    owner = client.V1OwnerReference(
        api_version="apps/v1", kind="StatefulSet", name="mongodb", uid=created.metadata.uid, controller=True
    )
    pod = client.V1Pod(
        metadata=client.V1ObjectMeta(name="mongodb-0", labels=labels, owner_references=[owner]),
        spec=client.V1PodSpec(containers=[container]),
    )
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(namespace, pod)
    now = datetime.now(UTC)
    core.patch_namespaced_pod_status(
        "mongodb-0",
        namespace,
        {
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "Ready", "status": "True" if ready else "False", "lastTransitionTime": now.isoformat()}
                ],
            }
        },
    )
    other = client.V1StatefulSet(
        metadata=client.V1ObjectMeta(name="cache"),
        spec=client.V1StatefulSetSpec(
            service_name="cache",
            selector=client.V1LabelSelector(match_labels={"app": "c"}),
            template=client.V1PodTemplateSpec(
                metadata=client.V1ObjectMeta(labels={"app": "c"}),
                spec=client.V1PodSpec(containers=[client.V1Container(name="r", image="redis")]),
            ),
        ),
    )
    client.AppsV1Api(api).create_namespaced_stateful_set(namespace, other)


@pytest.fixture
def kubeconfig_env(cluster: Cluster, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    return cluster.kubeconfig


def test_pod_discovery(api: client.ApiClient, namespace: str, kubeconfig_env: Path) -> None:
    make_mongodb(api, namespace)
    target = kube.connect(namespace=namespace)
    [pod] = kube.list_mongodb_pods(target)
    assert (pod.name, pod.statefulset, pod.ready) == ("mongodb-0", "mongodb", True)
    assert pod.dns_name == f"mongodb-0.mongodb-headless.{namespace}.svc.cluster.local"
    assert kube.find_pod(target, "mongodb-0") == pod


def install_base(api: client.ApiClient, namespace: str, bed_binaries: dict[str, Path]) -> None:
    apply(api, rendered(bed_binaries, "base"), namespace)


def finish_job(api: client.ApiClient, namespace: str, succeed: bool, after: float = 1.0) -> threading.Thread:
    """Plays the Job controller's part: marks the newest Job done after a moment."""

    def run() -> None:
        batch = client.BatchV1Api(api)
        deadline = time.monotonic() + 60
        while not (jobs := batch.list_namespaced_job(namespace).items) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(after)
        [job] = jobs
        now = datetime.now(UTC).isoformat()
        if succeed:
            conditions = [
                {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now, "lastProbeTime": now},
                {"type": "Complete", "status": "True", "lastTransitionTime": now, "lastProbeTime": now},
            ]
            status = {"startTime": now, "completionTime": now, "succeeded": 1, "conditions": conditions}
        else:
            conditions = [
                {
                    "type": "FailureTarget",
                    "status": "True",
                    "lastTransitionTime": now,
                    "lastProbeTime": now,
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                },
                {
                    "type": "Failed",
                    "status": "True",
                    "lastTransitionTime": now,
                    "lastProbeTime": now,
                    "reason": "BackoffLimitExceeded",
                    "message": "Job has reached the specified backoff limit",
                },
            ]
            status = {"startTime": now, "failed": 1, "conditions": conditions}
        batch.patch_namespaced_job_status(job.metadata.name, namespace, {"status": status})

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def request_the_job_runs(container: client.V1Container) -> RestoreRequest:
    """Parses the Job's container args and environment with the CLI's own parser and request reader."""
    from vaultui.cli import build_parser
    from vaultui.commands import restore

    assert container.args[:2] == ["--headless", "restore"]
    arguments = build_parser().parse_args(container.args)
    [variable] = [item for item in container.env if item.name == REQUEST_ENV]
    previous = os.environ.get(REQUEST_ENV)
    os.environ[REQUEST_ENV] = variable.value
    try:
        return restore._request_from_env(restore.Options.from_arguments(arguments))
    finally:
        if previous is None:
            del os.environ[REQUEST_ENV]
        else:
            os.environ[REQUEST_ENV] = previous


def test_restore_job_copies_the_cronjob_and_is_followed_to_success(
    api: client.ApiClient, namespace: str, kubeconfig_env: Path, bed_binaries: dict[str, Path]
) -> None:
    make_mongodb(api, namespace)
    install_base(api, namespace, bed_binaries)
    finisher = finish_job(api, namespace, succeed=True)
    done = run_vaultui(
        "--headless",
        "restore",
        "--pod",
        "mongodb-0",
        "--namespace",
        namespace,
        "--archive",
        "20261125T000012Z.tar.zst",
        "--drop",
        "--ns-from",
        "shop.*",
        "--ns-to",
        "shop2.*",
        "--insert-workers",
        "16",
        "--parallel",
        "3",
        env={"KUBECONFIG": str(kubeconfig_env)},
        timeout=120,
    )
    finisher.join()
    assert done.returncode == 0, done.stderr
    assert "restore Job vaultui-restore-mongodb-0-" in done.stdout and "completed" in done.stdout
    [job] = client.BatchV1Api(api).list_namespaced_job(namespace).items
    spec = job.spec.template.spec
    container = spec.containers[0]
    assert container.args == [
        "--headless",
        "restore",
        "--request-env",
        "--target-host",
        f"mongodb-0.mongodb-headless.{namespace}.svc.cluster.local:27017",
    ]
    # What the Job will run, fed back through the real parser: every field the user asked for arrives.
    request = request_the_job_runs(container)
    assert request == RestoreRequest(
        archive="20261125T000012Z.tar.zst",
        renames=(Rename("shop.*", "shop2.*"),),
        mode="drop",
        insert_workers=16,
        parallel=3,
    )
    target_env = next(item for item in container.env if item.name == "VAULTUI_TARGET_URI")
    assert target_env.value_from.secret_key_ref.name == "vaultui-mongodb"
    assert spec.service_account_name == "vaultui-restore-job" and spec.restart_policy == "Never"
    assert spec.automount_service_account_token is False
    assert "VAULTUI_MONGO_URI" not in {item.name for item in container.env}
    assert {item.value_from.secret_key_ref.name for item in container.env if item.name.startswith("AWS_")} == {
        "vaultui-s3-restore"
    }
    assert container.security_context.read_only_root_filesystem and spec.security_context.run_as_non_root
    # Encrypted archives open with the identity of an optional Secret mounted into restore Jobs only.
    [identity] = [volume for volume in spec.volumes if volume.name == "age-identity"]
    assert (identity.secret.secret_name, identity.secret.optional) == ("vaultui-age-identity", True)
    identity_env = next(item for item in container.env if item.name == "VAULTUI_AGE_IDENTITY_FILE")
    assert identity_env.value == "/var/run/vaultui-age/identity.txt"
    assert job.spec.backoff_limit == 0 and job.metadata.labels["vaultui.io/target-pod"] == "mongodb-0"


def test_failed_restore_job_is_reported(
    api: client.ApiClient, namespace: str, kubeconfig_env: Path, bed_binaries: dict[str, Path]
) -> None:
    make_mongodb(api, namespace)
    install_base(api, namespace, bed_binaries)
    finisher = finish_job(api, namespace, succeed=False)
    done = run_vaultui(
        "--headless",
        "restore",
        "--pod",
        "mongodb-0",
        "--namespace",
        namespace,
        "--latest",
        env={"KUBECONFIG": str(kubeconfig_env)},
        timeout=120,
    )
    finisher.join()
    assert done.returncode == ExitCode.KUBERNETES
    assert "failed (BackoffLimitExceeded: Job has reached the specified backoff limit)" in done.stderr


def impersonating(api: client.ApiClient, namespace: str, account: str = "vaultui-restore") -> kube.KubeTarget:
    api.set_default_header("Impersonate-User", f"system:serviceaccount:{namespace}:{account}")
    return kube.KubeTarget(api, namespace, "test")


def until(check: Callable[[], bool], what: str, timeout: float = 90.0) -> None:
    """Polls `check` until it holds; fails naming `what` after `timeout` (the API server is shared and slow
    under load: generous, but never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() >= deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what}")
        time.sleep(0.2)


def engine_job(admin: client.ApiClient, namespace: str, pod: str = "mongodb-0") -> dict:
    """The restore Job the engine makes from the installed CronJob, as the API receives it."""
    target = kube.KubeTarget(admin, namespace, "test")
    cronjob = client.BatchV1Api(admin).read_namespaced_cron_job("vaultui-backup", namespace)
    found = kube.find_pod(target, pod)
    request = request_to_json(RestoreRequest(latest=True))
    job = kube.restore_job(cronjob, found, 27017, request, f"vaultui-restore-{pod}-{uuid.uuid4().hex[:5]}")
    return admin.sanitize_for_serialization(job)


def create_job(api: client.ApiClient, namespace: str, job: dict) -> int:
    """Creates `job` (a server-side dry run: nothing is stored) and returns the HTTP status: 201, or the refusal's."""
    try:
        client.BatchV1Api(api).create_namespaced_job(namespace, job, dry_run="All")
    except ApiException as error:
        return error.status
    return 201


def wait_for_restore_policy(cluster: Cluster, namespace: str) -> None:
    """Waits until the admission policy, loaded asynchronously with its parameters, is in force for the restore
    identity in `namespace`: a Job mounting a foreign Secret is refused and the engine's own Job admitted."""
    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    restorer = impersonating(config.new_client_from_config(config_file=str(cluster.kubeconfig)), namespace).api
    good = engine_job(admin, namespace)
    bad = copy.deepcopy(good)
    bad["spec"]["template"]["spec"]["volumes"].append({"name": "loot", "secret": {"secretName": "someone-elses"}})
    until(lambda: create_job(restorer, namespace, bad) == 403, "the admission policy refuses a foreign Secret")
    until(lambda: create_job(restorer, namespace, good) == 201, "the admission policy admits the engine's Job")


def test_the_role_allows_every_call_the_engine_makes(
    cluster: Cluster, namespace: str, bed_binaries: dict[str, Path]
) -> None:
    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    make_mongodb(admin, namespace)
    install_base(admin, namespace, bed_binaries)
    wait_for_restore_policy(cluster, namespace)  # so the Job below passes the policy, not its absence
    target = impersonating(config.new_client_from_config(config_file=str(cluster.kubeconfig)), namespace)
    [pod] = kube.list_mongodb_pods(target)
    finisher = finish_job(admin, namespace, succeed=True, after=0.5)
    job = kube.start_restore_job(target, pod.name, request_to_json(RestoreRequest(latest=True, mode="if-empty")))
    outcome = kube.follow_job(target, job.metadata.name, poll=0.2)
    finisher.join()
    assert outcome.succeeded


def test_a_missing_permission_is_named(cluster: Cluster, namespace: str, bed_binaries: dict[str, Path]) -> None:
    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    make_mongodb(admin, namespace)
    documents = rendered(bed_binaries, "base")
    for document in documents:
        if document["kind"] == "Role":
            document["rules"] = [rule for rule in document["rules"] if rule["resources"] != ["jobs"]]
    apply(admin, documents, namespace)
    target = impersonating(config.new_client_from_config(config_file=str(cluster.kubeconfig)), namespace)
    with pytest.raises(kube.KubernetesError, match=f"forbidden: cannot create jobs in namespace '{namespace}'"):
        kube.start_restore_job(target, "mongodb-0", request_to_json(RestoreRequest(latest=True)))


def test_clear_errors_without_configuration(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kubeconfig_env: Path, namespace: str
) -> None:
    with pytest.raises(kube.KubernetesError, match="context 'nope' not found"):
        kube.connect("nope")
    with pytest.raises(kube.KubernetesError, match="pod 'ghost' not found"):
        kube.find_pod(kube.connect(namespace=namespace), "ghost")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(kube.KubernetesError, match="no Kubernetes configuration"):
        kube.connect()


async def test_dashboard_restores_into_a_pod_through_a_job(
    api: client.ApiClient, namespace: str, kubeconfig_env: Path, bed_binaries: dict[str, Path], tmp_path: Path
) -> None:
    from textual.widgets import Static

    from engine.storage import open_storage as storage_at
    from tests.helpers import settle
    from tests.test_ui_snapshots import fixed_storage
    from vaultui.app import make_app
    from vaultui.screens.dialogs import TypedConfirmScreen
    from vaultui.settings import AppSettings

    make_mongodb(api, namespace)
    install_base(api, namespace, bed_binaries)
    folder = tmp_path / "backups"
    folder.mkdir()
    fixed_storage(folder)
    newest = storage_at(str(folder))
    app = make_app(AppSettings(storage_url=str(folder), refresh_seconds=0, kube_namespace=namespace))
    finisher = finish_job(api, namespace, succeed=True, after=0.5)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        assert app.kube_label == f"k8s: test/{namespace}"
        await pilot.press("r")
        await settle(app, pilot)
        assert "Kubernetes pods in test/" in str(app.screen.query_one("#pods", Static).render())
        await pilot.click("#target-pod-mongodb-0")
        await pilot.click("#mode-drop")
        await pilot.click("#restore")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen)
        await pilot.press(*"mongodb-0", "enter")
        await settle(app, pilot)
        result = str(app.screen.query_one("#restore-result", Static).render())
    finisher.join()
    assert "into pod mongodb-0: completed" in result
    [job] = client.BatchV1Api(api).list_namespaced_job(namespace).items
    archive = sorted(info.key for info in newest.list("", recursive=False) if info.key.endswith(".tar.zst"))[-1]
    request = request_the_job_runs(job.spec.template.spec.containers[0])
    assert (request.archive, request.mode) == (archive, "drop")
