"""Least privilege, measured. Against the real kube-apiserver (RBAC and admission on), as each ServiceAccount
itself (impersonated): the engine's whole pod-restore path runs as vaultui-restore, and every call it makes is
recorded and compared with the Role (each call allowed, each grant used); the backup, purge and restore-job
identities can do nothing; a Job or pod that mounts any other Secret (or runs anything but vaultui's restore)
is refused to every identity, through RBAC or the admission policy, while the engine's own Job is admitted.
Against moto's IAM-checking S3: the backup, purge and restore credentials of k8s/s3 each run their command,
and only the purge's can delete an archive."""

from __future__ import annotations

import copy
import json
import subprocess
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlparse

import boto3
import pymongo
import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from engine.archive.catalog import list_archives
from engine.evidence.ledger import list_runs
from engine.kube import cluster as kube
from engine.kube.pod_restore import restore_into_pod
from engine.restore.request import RestoreRequest, request_to_json
from engine.storage import write_bytes
from engine.storage.errors import AccessDenied
from engine.storage.s3 import S3Storage
from tests.bed import servers
from tests.bed.kubernetes import Cluster
from tests.helpers import run_vaultui, s3_user, seed
from tests.test_kubernetes import (
    apply,
    create_job,
    engine_job,
    impersonating,
    make_mongodb,
    rendered,
    until,
    wait_for_restore_policy,
)

ROOT = Path(__file__).resolve().parent.parent
RESTORE = "vaultui-restore"
NO_API = ("vaultui-backup", "vaultui-purge", "vaultui-restore-job")
POLICY = "ValidatingAdmissionPolicy 'vaultui-restore-jobs'"


def as_account(cluster: Cluster, namespace: str, account: str) -> client.ApiClient:
    return impersonating(config.new_client_from_config(config_file=str(cluster.kubeconfig)), namespace, account).api


def install(cluster: Cluster, bed_binaries: dict[str, Path]) -> str:
    """A fresh namespace with a MongoDB StatefulSet and k8s/base installed, the admission policy in force."""
    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    namespace = f"rbac-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=namespace)))
    make_mongodb(admin, namespace)
    apply(admin, rendered(bed_binaries, "base"), namespace)
    wait_for_restore_policy(cluster, namespace)
    return namespace


@pytest.fixture(scope="module")
def installed(cluster: Cluster, bed_binaries: dict[str, Path]) -> str:
    """One install shared by the tests that change nothing in it (their creates are dry runs)."""
    return install(cluster, bed_binaries)


@pytest.fixture
def namespace_with_base(cluster: Cluster, bed_binaries: dict[str, Path]) -> str:
    """An install of its own, for a test that changes it."""
    return install(cluster, bed_binaries)


# --- what the engine calls, recorded ----------------------------------------------------------------------------

VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def api_call(method: str, url: str) -> tuple[str, str, str]:
    """(verb, API group, resource[/subresource]) of one namespaced request, as RBAC sees it."""
    parts = urlparse(url).path.strip("/").split("/")
    group, rest = ("", parts[2:]) if parts[0] == "api" else (parts[1], parts[3:])
    assert rest[0] == "namespaces", url
    resource, named = rest[2], len(rest) > 3
    if len(rest) > 4:
        resource += "/" + rest[4]
    verb = VERBS.get(method) or ("get" if named else "list")
    return verb, group, resource


def recording(api: client.ApiClient) -> list[tuple[str, str, int]]:
    """Every request `api` sends from now on, with the status it got (the engine swallows some refusals)."""
    calls: list[tuple[str, str, int]] = []
    send = api.rest_client.request

    def request(method: str, url: str, *args: object, **kwargs: object) -> object:
        try:
            response = send(method, url, *args, **kwargs)
        except ApiException as error:
            calls.append((method, url, error.status))
            raise
        calls.append((method, url, response.status))
        return response

    api.rest_client.request = request
    return calls


def granted(role: client.V1Role) -> set[tuple[str, str, str]]:
    return {
        (verb, group, resource)
        for rule in role.rules
        for verb in rule.verbs
        for group in rule.api_groups
        for resource in rule.resources
    }


def play_job_controller(admin: client.ApiClient, namespace: str) -> threading.Thread:
    """What the Job controller and a kubelet would do: the Job gets its pod (no node: none exists), then is marked
    complete. The pod lets the engine's log read reach the API server's authorisation."""

    def run() -> None:
        batch, core = client.BatchV1Api(admin), client.CoreV1Api(admin)
        until(lambda: bool(batch.list_namespaced_job(namespace).items), "the engine created its restore Job")
        [job] = batch.list_namespaced_job(namespace).items
        template = job.spec.template
        pod = client.V1Pod(
            metadata=client.V1ObjectMeta(
                name=f"{job.metadata.name}-x", labels={**template.metadata.labels, "job-name": job.metadata.name}
            ),
            spec=template.spec,
        )
        core.create_namespaced_pod(namespace, pod)
        now = datetime.now(UTC).isoformat()
        conditions = [
            {"type": "SuccessCriteriaMet", "status": "True", "lastTransitionTime": now, "lastProbeTime": now},
            {"type": "Complete", "status": "True", "lastTransitionTime": now, "lastProbeTime": now},
        ]
        status = {"startTime": now, "completionTime": now, "succeeded": 1, "conditions": conditions}
        batch.patch_namespaced_job_status(job.metadata.name, namespace, {"status": status})

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_the_engine_restores_into_a_pod_as_vaultui_restore_using_every_grant(cluster: Cluster, installed: str) -> None:
    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    restorer = as_account(cluster, installed, RESTORE)
    calls = recording(restorer)
    target = kube.KubeTarget(restorer, installed, "test")
    controller = play_job_controller(admin, installed)
    try:
        # What the dashboard does: list the pods, then the one restore path the CLI shares.
        [pod] = kube.list_mongodb_pods(target)
        outcome = restore_into_pod(target, pod.name, RestoreRequest(latest=True, mode="if-empty"), poll=0.2)
    finally:
        controller.join()
    assert outcome.succeeded
    # Every call succeeded, the log read too (empty: the pod has no node to run on, there is no kubelet).
    failed = [(method, url, status) for method, url, status in calls if status >= 300]
    assert not failed, failed
    used = {api_call(method, url) for method, url, _ in calls}
    assert used == {
        ("list", "apps", "statefulsets"),
        ("get", "apps", "statefulsets"),
        ("list", "", "pods"),
        ("get", "", "pods"),
        ("get", "", "pods/log"),
        ("get", "batch", "cronjobs"),
        ("create", "batch", "jobs"),
        ("get", "batch", "jobs"),
    }
    role = client.RbacAuthorizationV1Api(admin).read_namespaced_role(RESTORE, installed)
    assert granted(role) == used, "the Role grants exactly what the engine calls, nothing more"
    [cronjob_rule] = [rule for rule in role.rules if rule.resources == ["cronjobs"]]
    assert cronjob_rule.resource_names == ["vaultui-backup"]
    # The Job that the admission policy admitted: its pod has no token and the restore credential only.
    [job] = client.BatchV1Api(admin).list_namespaced_job(installed).items
    spec = job.spec.template.spec
    assert (spec.service_account_name, spec.automount_service_account_token) == ("vaultui-restore-job", False)
    assert secrets_of(admin.sanitize_for_serialization(spec)) == {
        "vaultui-mongodb",
        "vaultui-s3-restore",
        "vaultui-age-identity",  # encrypted archives: the identity lives only in restore Jobs (optional)
    }


# --- what each identity cannot do --------------------------------------------------------------------------------


def status_of(call: Callable[[], object]) -> int:
    try:
        call()
    except ApiException as error:
        return error.status
    return 200


def pod_mounting(secret: str, account: str) -> client.V1Pod:
    return client.V1Pod(
        metadata=client.V1ObjectMeta(name=f"loot-{uuid.uuid4().hex[:5]}"),
        spec=client.V1PodSpec(
            service_account_name=account,
            containers=[client.V1Container(name="c", image="busybox", command=["cat", "/loot/uri"])],
            volumes=[client.V1Volume(name="loot", secret=client.V1SecretVolumeSource(secret_name=secret))],
        ),
    )


def forbidden_calls(api: client.ApiClient, namespace: str, job: dict) -> dict[str, Callable[[], object]]:
    core, batch, apps = client.CoreV1Api(api), client.BatchV1Api(api), client.AppsV1Api(api)
    cronjob = {
        "metadata": {"name": "loot"},
        "spec": {"schedule": "* * * * *", "jobTemplate": {"spec": job["spec"]}},
    }
    return {
        "list secrets": lambda: core.list_namespaced_secret(namespace),
        "get a secret": lambda: core.read_namespaced_secret("vaultui-mongodb", namespace),
        "create a pod mounting a secret": lambda: core.create_namespaced_pod(
            namespace, pod_mounting("vaultui-mongodb", "vaultui-restore-job"), dry_run="All"
        ),
        "exec into a pod": lambda: core.connect_post_namespaced_pod_exec("mongodb-0", namespace, command=["id"]),
        "create a cronjob": lambda: batch.create_namespaced_cron_job(namespace, cronjob, dry_run="All"),
        "change the backup cronjob's template": lambda: batch.patch_namespaced_cron_job(
            "vaultui-backup", namespace, {"spec": {"suspend": True}}, dry_run="All"
        ),
        "get another cronjob": lambda: batch.read_namespaced_cron_job("vaultui-purge", namespace),
        "delete a job": lambda: batch.delete_namespaced_job("vaultui-restore-x", namespace, dry_run="All"),
        "patch a statefulset": lambda: apps.patch_namespaced_stateful_set(
            "mongodb", namespace, {"spec": {"replicas": 0}}, dry_run="All"
        ),
        "create a service account token": lambda: core.create_namespaced_service_account_token(
            "vaultui-restore", namespace, {"spec": {"audiences": []}}
        ),
    }


@pytest.mark.parametrize("account", NO_API)
def test_the_backup_purge_and_restore_job_identities_can_do_nothing(
    cluster: Cluster, installed: str, account: str
) -> None:
    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    api = as_account(cluster, installed, account)
    job = engine_job(admin, installed)
    calls: dict[str, Callable[[], object]] = {
        **forbidden_calls(api, installed, job),
        "list pods": lambda: client.CoreV1Api(api).list_namespaced_pod(installed),
        "get a pod": lambda: client.CoreV1Api(api).read_namespaced_pod("mongodb-0", installed),
        "read a pod's log": lambda: client.CoreV1Api(api).read_namespaced_pod_log("mongodb-0", installed),
        "list statefulsets": lambda: client.AppsV1Api(api).list_namespaced_stateful_set(installed),
        "get the backup cronjob": lambda: client.BatchV1Api(api).read_namespaced_cron_job("vaultui-backup", installed),
        "list jobs": lambda: client.BatchV1Api(api).list_namespaced_job(installed),
        "create the engine's own job": lambda: client.BatchV1Api(api).create_namespaced_job(
            installed, job, dry_run="All"
        ),
        "list configmaps": lambda: client.CoreV1Api(api).list_namespaced_config_map(installed),
    }
    statuses = {what: status_of(call) for what, call in calls.items()}
    assert statuses == dict.fromkeys(calls, 403)
    # And the API server's own account of it: nothing but the self-reviews every authenticated user has.
    review = client.AuthorizationV1Api(api).create_self_subject_rules_review(
        client.V1SelfSubjectRulesReview(spec=client.V1SelfSubjectRulesReviewSpec(namespace=installed))
    )
    resources = {resource for rule in review.status.resource_rules for resource in rule.resources}
    assert resources == {"selfsubjectaccessreviews", "selfsubjectrulesreviews", "selfsubjectreviews"}


def test_the_restore_identity_cannot_reach_secrets_but_through_vaultuis_job(cluster: Cluster, installed: str) -> None:
    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    api = as_account(cluster, installed, RESTORE)
    calls = forbidden_calls(api, installed, engine_job(admin, installed))
    statuses = {what: status_of(call) for what, call in calls.items()}
    assert statuses == dict.fromkeys(calls, 403)


# --- the admission policy: exactly the engine's Job ---------------------------------------------------------------


def secrets_of(pod: dict) -> set[str]:
    """Every Secret a pod spec (as JSON) names: env, envFrom, volumes, projected volumes."""
    found = set()
    for container in pod.get("containers", []) + pod.get("initContainers", []):
        for item in container.get("env", []):
            if "secretKeyRef" in item.get("valueFrom", {}):
                found.add(item["valueFrom"]["secretKeyRef"]["name"])
        for item in container.get("envFrom", []):
            if "secretRef" in item:
                found.add(item["secretRef"]["name"])
    for volume in pod.get("volumes", []):
        if "secret" in volume:
            found.add(volume["secret"]["secretName"])
        for source in volume.get("projected", {}).get("sources", []):
            if "secret" in source:
                found.add(source["secret"]["name"])
    return found


def _container(job: dict) -> dict:
    return job["spec"]["template"]["spec"]["containers"][0]


def _pod(job: dict) -> dict:
    return job["spec"]["template"]["spec"]


def _env(job: dict, name: str) -> dict:
    return next(item for item in _container(job)["env"] if item["name"] == name)


LOOT = "someone-elses"
# Each: what is changed in the engine's Job, how, and the words of the refusal.
TAMPERED: dict[str, tuple[Callable[[dict], object], str]] = {
    "a foreign Secret in env": (
        lambda job: _env(job, "AWS_ACCESS_KEY_ID")["valueFrom"]["secretKeyRef"].update(name=LOOT),
        "sets only the variables",
    ),
    "the backup credential": (
        lambda job: _env(job, "AWS_SECRET_ACCESS_KEY")["valueFrom"]["secretKeyRef"].update(name="vaultui-s3-backup"),
        "sets only the variables",
    ),
    "the purge credential through envFrom": (
        lambda job: _container(job)["envFrom"].append({"secretRef": {"name": "vaultui-s3-purge"}}),
        "reads variables only from",
    ),
    "a foreign Secret volume": (
        lambda job: _pod(job)["volumes"].append({"name": "loot", "secret": {"secretName": LOOT}}),
        "mounts only emptyDir",
    ),
    "a projected Secret": (
        lambda job: _pod(job)["volumes"].append(
            {"name": "loot", "projected": {"sources": [{"secret": {"name": LOOT}}]}}
        ),
        "mounts only emptyDir",
    ),
    "a projected token": (
        lambda job: _pod(job)["volumes"].append(
            {"name": "loot", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
        ),
        "mounts only emptyDir",
    ),
    "a host path": (
        lambda job: _pod(job)["volumes"].append({"name": "loot", "hostPath": {"path": "/etc/kubernetes"}}),
        "mounts only emptyDir",
    ),
    "another claim (the database's own disk)": (
        lambda job: _pod(job)["volumes"][0]["persistentVolumeClaim"].update(claimName="data-mongodb-0"),
        "mounts only emptyDir",
    ),
    "another image": (lambda job: _container(job).update(image="busybox:1.36"), "runs the vaultui image"),
    "vaultui from another registry": (
        lambda job: _container(job).update(image="elsewhere.example/vaultui:0.1.0"),
        "runs the vaultui image",
    ),
    "a command of its own": (
        lambda job: _container(job).update(command=["/bin/sh", "-c", "cat /proc/self/environ"]),
        "runs the vaultui image",
    ),
    "a backup instead of a restore": (
        lambda job: _container(job).update(args=["--headless", "backup"]),
        "runs the vaultui image",
    ),
    "a target outside the namespace": (
        lambda job: _container(job)["args"].__setitem__(4, "mongo.elsewhere.example:27017"),
        "runs the vaultui image",
    ),
    "a storage of its own choosing": (
        lambda job: _container(job)["env"].append({"name": "VAULTUI_STORAGE", "value": "s3://elsewhere/x"}),
        "sets only the variables",
    ),
    "the restore identity's token": (
        lambda job: _pod(job).update(serviceAccountName=RESTORE, automountServiceAccountToken=True),
        "restore-job ServiceAccount",
    ),
    "a mounted token": (
        lambda job: _pod(job).update(automountServiceAccountToken=True),
        "restore-job ServiceAccount",
    ),
    "no vaultui labels": (
        lambda job: [job["metadata"].pop("labels"), job["spec"]["template"].pop("metadata")],
        "carries vaultui's restore labels",
    ),
    "the labels of a backup": (
        lambda job: [
            labels.update({"app.kubernetes.io/component": "backup"})
            for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"])
        ],
        "carries vaultui's restore labels",
    ),
    "another name": (lambda job: job["metadata"].update(name="innocent"), "carries vaultui's restore labels"),
    "an init container": (
        lambda job: _pod(job).update(initContainers=[{**copy.deepcopy(_container(job)), "name": "first"}]),
        "one container",
    ),
    "a second container": (
        lambda job: _pod(job)["containers"].append({"name": "side", "image": "busybox:1.36"}),
        "one container",
    ),
    "the target's name aliased to another address": (
        lambda job: _pod(job).update(
            hostAliases=[{"ip": "192.0.2.7", "hostnames": [_container(job)["args"][4].rpartition(":")[0]]}]
        ),
        "cluster's DNS only",
    ),
    "a DNS server of its own": (
        lambda job: _pod(job).update(dnsPolicy="None", dnsConfig={"nameservers": ["192.0.2.53"]}),
        "cluster's DNS only",
    ),
    "the host's network": (lambda job: _pod(job).update(hostNetwork=True), "in no host namespace"),
    "the host's processes": (lambda job: _pod(job).update(hostPID=True), "in no host namespace"),
    "root": (lambda job: _pod(job)["securityContext"].update(runAsNonRoot=False), "runs as non-root"),
}


def refusal(api: client.ApiClient, namespace: str, job: dict) -> tuple[int, str]:
    """The status and message with which a dry-run create of `job` is refused; (201, "") when it is not."""
    try:
        client.BatchV1Api(api).create_namespaced_job(namespace, job, dry_run="All")
    except ApiException as error:
        return error.status, json.loads(error.body)["message"]
    return 201, ""


@pytest.mark.parametrize("change", list(TAMPERED))
def test_the_admission_policy_refuses_a_tampered_job_from_the_restore_identity(
    cluster: Cluster, installed: str, change: str
) -> None:
    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    tamper, words = TAMPERED[change]
    job = engine_job(admin, installed)
    tamper(job)
    status, message = refusal(as_account(cluster, installed, RESTORE), installed, job)
    assert status == 403 and POLICY in message and words in message, (status, message)
    # The policy confines that identity only: the same Job from the cluster's admin passes it.
    assert create_job(admin, installed, job) == 201


def test_the_engines_job_is_admitted_and_nobody_elses_jobs_are_looked_at(cluster: Cluster, installed: str) -> None:
    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    job = engine_job(admin, installed)
    assert secrets_of(_pod(job)) == {"vaultui-mongodb", "vaultui-s3-restore", "vaultui-age-identity"}
    assert refusal(as_account(cluster, installed, RESTORE), installed, job) == (201, "")
    # A namespace without vaultui: its Jobs, whatever they mount, are none of the policy's business.
    elsewhere = f"other-{uuid.uuid4().hex[:8]}"
    client.CoreV1Api(admin).create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=elsewhere)))
    foreign = copy.deepcopy(job)
    _pod(foreign)["volumes"].append({"name": "loot", "secret": {"secretName": LOOT}})
    _container(foreign)["args"][4] = "anything:1"
    assert refusal(admin, elsewhere, foreign) == (201, "")


def test_a_cronjob_that_drifted_from_the_policy_is_named_by_the_engine(
    cluster: Cluster, namespace_with_base: str
) -> None:
    """The backup CronJob gained a variable from a Secret the policy does not list: the restore identity's Job is
    refused, and the engine says it was the admission policy and what it wants (not a missing RBAC verb)."""
    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    patch = [
        {
            "op": "add",
            "path": "/spec/jobTemplate/spec/template/spec/containers/0/env/-",
            "value": {
                "name": "VAULTUI_LEDGER_KEY",
                "valueFrom": {"secretKeyRef": {"name": "vaultui-ledger", "key": "k"}},
            },
        }
    ]
    client.BatchV1Api(admin).patch_namespaced_cron_job("vaultui-backup", namespace_with_base, patch)
    target = kube.KubeTarget(as_account(cluster, namespace_with_base, RESTORE), namespace_with_base, "test")
    with pytest.raises(kube.KubernetesError) as refused:
        kube.start_restore_job(target, "mongodb-0", request_to_json(RestoreRequest(latest=True)))
    message = str(refused.value)
    assert message.startswith(
        f"the cluster's admission policy refused to create jobs in namespace '{namespace_with_base}'"
    )
    assert "sets only the variables VAULTUI_TARGET_URI" in message and "restore-admission.yaml" in message
    # And a CronJob of another name is out of the restore identity's reach altogether (RBAC resourceNames).
    with pytest.raises(kube.KubernetesError, match="forbidden: cannot get cronjobs"):
        kube.start_restore_job(
            target, "mongodb-0", request_to_json(RestoreRequest(latest=True)), cronjob="vaultui-purge"
        )


# --- the manifests: who holds which credential ---------------------------------------------------------------------


def _pod_specs(documents: list[dict]) -> dict[str, dict]:
    specs = {}
    for document in documents:
        spec = document.get("spec", {})
        if document["kind"] == "CronJob":
            specs[document["metadata"]["name"]] = spec["jobTemplate"]["spec"]["template"]["spec"]
        elif document["kind"] in ("Deployment", "StatefulSet"):
            specs[document["metadata"]["name"]] = spec["template"]["spec"]
    return specs


def test_each_workload_holds_its_own_credential(bed_binaries: dict[str, Path]) -> None:
    documents = rendered(bed_binaries, "overlays/example")
    accounts = {d["metadata"]["name"]: d for d in documents if d["kind"] == "ServiceAccount"}
    assert set(accounts) == {"vaultui-backup", "vaultui-purge", "vaultui-restore-job", RESTORE}
    assert all(account["automountServiceAccountToken"] is False for account in accounts.values())
    bindings = [d for d in documents if d["kind"] in ("RoleBinding", "ClusterRoleBinding")]
    assert [subject["name"] for binding in bindings for subject in binding["subjects"]] == [RESTORE]
    specs = _pod_specs(documents)
    assert {
        name: (spec.get("serviceAccountName"), spec.get("automountServiceAccountToken"))
        for name, spec in specs.items()
        if name != "mongodb"
    } == {
        "vaultui-backup": ("vaultui-backup", False),
        "vaultui-purge": ("vaultui-purge", False),
        "vaultui-oplog": ("vaultui-backup", False),
    }
    sidecar_containers = specs["mongodb"]["initContainers"]
    mounted = {mount["name"] for container in sidecar_containers for mount in container.get("volumeMounts", [])}
    sidecar = {
        "containers": sidecar_containers,
        "volumes": [volume for volume in specs["mongodb"].get("volumes", []) if volume["name"] in mounted],
    }
    assert {name: secrets_of(spec) for name, spec in {**specs, "mongodb": sidecar}.items()} == {
        "vaultui-backup": {"vaultui-mongodb", "vaultui-s3-backup"},
        "vaultui-purge": {"vaultui-s3-purge"},
        "vaultui-oplog": {"vaultui-mongodb", "vaultui-s3-backup"},
        "mongodb": {"vaultui-mongodb", "vaultui-s3-restore", "vaultui-age-identity"},
    }
    # The admission policy's image follows the overlay's, so restore Jobs of this install pass it.
    [policy] = [d for d in documents if d["kind"] == "ValidatingAdmissionPolicy"]
    [images] = [variable["expression"] for variable in policy["spec"]["variables"] if variable["name"] == "images"]
    assert (
        images == f"['{specs['vaultui-backup']['containers'][0]['image']}']" == "['registry.example.com/vaultui:0.1.0']"
    )


# --- the storage side: the S3 policies shipped beside the manifests --------------------------------------------------


def s3_grants(name: str) -> dict[str, set[str]]:
    """action -> the resources one of k8s/s3/<name>.json allows it on (it has Allow statements only)."""
    document = json.loads((ROOT / "k8s" / "s3" / f"{name}.json").read_text())
    grants: dict[str, set[str]] = {}
    for statement in document["Statement"]:
        assert statement["Effect"] == "Allow" and "NotAction" not in statement and "NotResource" not in statement
        for action in statement["Action"]:
            grants.setdefault(action, set()).update(statement["Resource"])
    return grants


OBJECTS = "arn:aws:s3:::BUCKET/PREFIX/*"


def test_the_s3_policies_split_write_delete_and_read() -> None:
    backup, purge, restore = s3_grants("backup"), s3_grants("purge"), s3_grants("restore")
    for grants in (backup, purge, restore):
        assert not any(action.endswith("*") for action in grants)
        assert OBJECTS in grants["s3:GetObject"] and "s3:ListBucket" in grants
        assert not {"s3:PutBucketPolicy", "s3:PutLifecycleConfiguration", "s3:PutBucketVersioning"} & set(grants)
    # The backup adds objects; it deletes only its own lease (and aborts its unfinished uploads).
    assert OBJECTS in backup["s3:PutObject"]
    assert backup["s3:DeleteObject"] == {"arn:aws:s3:::BUCKET/PREFIX/leases/*"}
    assert "s3:DeleteObjectVersion" not in backup
    # Only the purge deletes archives (every version of one, on a versioned bucket).
    assert OBJECTS in purge["s3:DeleteObject"] and OBJECTS in purge["s3:DeleteObjectVersion"]
    # A restore reads; it writes nothing but its own run record and shared lease.
    assert restore["s3:PutObject"] == {
        "arn:aws:s3:::BUCKET/PREFIX/_vaultui/runs/*",
        "arn:aws:s3:::BUCKET/PREFIX/leases/shared/*",
    }
    assert restore["s3:DeleteObject"] == {"arn:aws:s3:::BUCKET/PREFIX/leases/shared/*"}
    assert "s3:DeleteObjectVersion" not in restore and "s3:AbortMultipartUpload" not in restore


# --- the S3 policies, measured: each credential runs its job on moto's IAM-checking server, and no more -----------


def s3_credentials(
    server: servers.Server, bucket: str, name: str = "", statement: dict | None = None
) -> dict[str, str]:
    """An IAM user holding k8s/s3/<name>.json (or the one `statement`) for `bucket` and the prefix `prod`, as the
    standard AWS variables. moto authorises HeadBucket as s3:HeadBucket (AWS: s3:ListBucket), so a policy listing
    the bucket also gets that name. The bed's own user may not create users: moto's reset-auth lets the next
    three calls through."""
    if statement is None:
        text = (ROOT / "k8s" / "s3" / f"{name}.json").read_text().replace("BUCKET", bucket).replace("PREFIX", "prod")
        document = json.loads(text)
    else:
        name, document = "strict", {"Version": "2012-10-17", "Statement": [statement]}
    document["Statement"].append(
        {"Effect": "Allow", "Action": ["s3:HeadBucket"], "Resource": [f"arn:aws:s3:::{bucket}"]}
    )
    return s3_user(server.url, name, document["Statement"])


def storage_as(bucket: str, credentials: dict[str, str]) -> S3Storage:
    s3 = boto3.client(
        "s3",
        endpoint_url=credentials["AWS_ENDPOINT_URL_S3"],
        region_name="us-east-1",
        aws_access_key_id=credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=credentials["AWS_SECRET_ACCESS_KEY"],
    )
    return S3Storage(bucket, "prod", client=s3)


def refused_by_s3(call: Callable[[], object]) -> bool:
    try:
        call()
    except AccessDenied:
        return True
    return False


def test_each_s3_credential_does_its_job_and_nothing_more(
    s3_server: servers.Server,
    s3_client,  # noqa: ANN001 - a boto3 client with every right (the bucket's owner)
    s3_bucket: str,
    mongo_client: pymongo.MongoClient,
    mongo_uri: str,
    database_name: str,
) -> None:
    seed(mongo_client, database_name, {"orders": 200})
    keys = {name: s3_credentials(s3_server, s3_bucket, name) for name in ("backup", "purge", "restore")}
    storage = {"VAULTUI_STORAGE": f"s3://{s3_bucket}/prod"}
    owner = S3Storage(s3_bucket, "prod", client=s3_client)

    made = run_vaultui(
        "--headless", "backup", "--db", database_name, env={**storage, "VAULTUI_MONGO_URI": mongo_uri, **keys["backup"]}
    )
    assert made.returncode == 0, made.stderr
    [archive] = list_archives(owner)
    restored = f"{database_name}_r"

    def restore_into(target: str, credentials: dict[str, str]) -> subprocess.CompletedProcess:
        return run_vaultui(
            "--headless", "restore", "--latest", "--ns-from", f"{database_name}.*", "--ns-to", f"{target}.*",
            env={**storage, "VAULTUI_TARGET_URI": mongo_uri, **credentials},
        )  # fmt: skip

    back = restore_into(restored, keys["restore"])
    assert back.returncode == 0, back.stderr
    assert mongo_client[restored]["orders"].count_documents({}) == 200
    # A strictly read-only key (list and read alone) restores too: no lease, and a warning that the run is unrecorded.
    read_only = {"Effect": "Allow", "Action": ["s3:ListBucket", "s3:GetObject"], "Resource": ["*"]}
    strict = restore_into(f"{restored}2", s3_credentials(s3_server, s3_bucket, statement=read_only))
    assert strict.returncode == 0, strict.stderr
    assert "the restore was not recorded in the ledger" in strict.stdout + strict.stderr
    assert mongo_client[f"{restored}2"]["orders"].count_documents({}) == 200
    purged = run_vaultui("--headless", "purge", env={**storage, **keys["purge"]})
    assert purged.returncode == 0, purged.stderr
    # Each run left its record (the restore's own verification too), and no lease behind.
    assert {(record.kind, record.result) for record in list_runs(owner)} == {
        (kind, "success") for kind in ("backup", "verify", "restore", "purge")
    }
    assert [info.key for info in owner.list("leases/")] == []

    backup, purge, restore = (storage_as(s3_bucket, keys[name]) for name in ("backup", "purge", "restore"))
    # Neither the backup's nor the restore's credential can delete or overwrite an archive; the restore's writes
    # nothing but run records and shared leases.
    for name in (archive.name, archive.ref.manifest_key):
        assert refused_by_s3(lambda key=name: backup.delete(key))
        assert refused_by_s3(lambda key=name: restore.delete(key))
        assert refused_by_s3(lambda key=name: write_bytes(restore, key, b"overwritten"))
    assert refused_by_s3(lambda: write_bytes(restore, "oplog/x.bson.zst", b"x"))
    assert refused_by_s3(lambda: write_bytes(restore, "leases/exclusive.json", b"{}"))
    # The purge's credential deletes.
    purge.delete(archive.ref.manifest_key)
    purge.delete(archive.name)
    assert list_archives(owner) == []
