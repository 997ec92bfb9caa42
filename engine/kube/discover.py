"""Deployments found in a cluster, for the fleet file: each vaultui install is a backup CronJob labelled
`app.kubernetes.io/name=vaultui` (what k8s/base applies), with its settings in the ConfigMap it reads. Only
what a fleet entry needs is read (storage, schedule, SLA settings, where its secrets come from); a secret's
value never is: the entry names an environment variable for the user to fill."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kubernetes import client
from kubernetes.client.exceptions import ApiException
from urllib3.exceptions import HTTPError

from engine.common.errors import KubernetesError
from engine.kube.cluster import KubeTarget, explain

SELECTOR = "app.kubernetes.io/name=vaultui"
# The ConfigMap keys a fleet entry takes over, as the settings they are.
SETTINGS_FROM_CONFIGMAP = {
    "VAULTUI_STORAGE": "storage",
    "VAULTUI_SCHEDULE": "schedule",
    "VAULTUI_TIMEZONE": "timezone",
    "VAULTUI_MAX_AGE_DAYS": "max_age_days",
    "VAULTUI_KEEP_LAST": "keep_last",
    "VAULTUI_RTO_SECONDS": "rto_seconds",
    "VAULTUI_RPO_SECONDS": "rpo_seconds",
    "VAULTUI_TARGET_PERCENT": "target_percent",
}


@dataclass
class Found:
    """One vaultui install: where it runs, and the fleet entry's settings read from its CronJob."""

    context: str
    namespace: str
    cronjob: str
    settings: dict[str, str] = field(default_factory=dict)
    secrets: dict[str, str] = field(default_factory=dict)  # secret key -> "Secret name/key" it reads in-cluster
    notes: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        """The entry's name: the context and namespace, made a valid deployment name."""
        base = self.namespace if self.cronjob == "vaultui-backup" else f"{self.namespace}-{self.cronjob}"
        return re.sub(r"[^A-Za-z0-9_.-]", "-", f"{self.context}-{base}")[:63].strip("-.") or "deployment"


@dataclass
class Discovery:
    found: list[Found]
    searched: str  # "all namespaces" or the namespaces listed one by one
    skipped: list[str] = field(default_factory=list)  # namespaces the identity may not read


def discover(target: KubeTarget) -> Discovery:
    """vaultui's backup CronJobs across every namespace the identity may list (cluster-wide when it may; else
    namespace by namespace; else the context's own namespace)."""
    batch, core = client.BatchV1Api(target.api), client.CoreV1Api(target.api)
    skipped: list[str] = []
    try:
        cronjobs = batch.list_cron_job_for_all_namespaces(label_selector=SELECTOR).items
        searched = "all namespaces"
    except ApiException as error:
        if error.status != 403:
            raise explain(error, "list", "cronjobs", "all namespaces") from None
        cronjobs, searched = _namespace_by_namespace(target, batch, core, skipped)
    except HTTPError as error:
        raise explain(error, "list", "cronjobs", "all namespaces") from None
    found = [_found(target, core, cronjob) for cronjob in cronjobs if _is_backup(cronjob)]
    return Discovery(sorted(found, key=lambda item: item.name), searched, skipped)


def _namespace_by_namespace(
    target: KubeTarget, batch: client.BatchV1Api, core: client.CoreV1Api, skipped: list[str]
) -> tuple[list[client.V1CronJob], str]:
    try:
        namespaces = [item.metadata.name for item in core.list_namespace().items]
    except ApiException as error:
        if error.status != 403:
            raise explain(error, "list", "namespaces", "the cluster") from None
        namespaces = [target.namespace]  # may not list namespaces: the context's own is what it has
    except HTTPError as error:
        raise explain(error, "list", "namespaces", "the cluster") from None
    cronjobs: list[client.V1CronJob] = []
    for namespace in namespaces:
        try:
            cronjobs += batch.list_namespaced_cron_job(namespace, label_selector=SELECTOR).items
        except ApiException as error:
            if error.status != 403:
                raise explain(error, "list", "cronjobs", namespace) from None
            skipped.append(namespace)
        except HTTPError as error:
            raise KubernetesError(f"the API server stopped answering while listing {namespace}: {error}") from None
    return cronjobs, ", ".join(namespaces)


def _is_backup(cronjob: client.V1CronJob) -> bool:
    containers = cronjob.spec.job_template.spec.template.spec.containers or []
    return any("backup" in (container.args or []) for container in containers)


def _found(target: KubeTarget, core: client.CoreV1Api, cronjob: client.V1CronJob) -> Found:
    namespace = cronjob.metadata.namespace
    item = Found(target.context, namespace, cronjob.metadata.name)
    item.settings["schedule"] = cronjob.spec.schedule
    if cronjob.spec.time_zone:
        item.settings["timezone"] = cronjob.spec.time_zone
    container = next(
        entry for entry in cronjob.spec.job_template.spec.template.spec.containers if "backup" in (entry.args or [])
    )
    values: dict[str, str] = {}
    for source in container.env_from or []:
        if source.config_map_ref is None:
            continue
        name = source.config_map_ref.name
        try:
            values.update(core.read_namespaced_config_map(name, namespace).data or {})
        except ApiException as error:
            item.notes.append(f"ConfigMap {name} not readable (HTTP {error.status}): fill in its settings by hand")
        except HTTPError as error:
            item.notes.append(f"ConfigMap {name} not read ({error}): fill in its settings by hand")
    for entry in container.env or []:
        if entry.value is not None:
            values[entry.name] = entry.value
        elif entry.value_from is not None and entry.value_from.secret_key_ref is not None:
            ref = entry.value_from.secret_key_ref
            item.secrets[entry.name] = f"Secret {ref.name}, key {ref.key}"
    for env, setting in SETTINGS_FROM_CONFIGMAP.items():
        if values.get(env, "").strip():
            item.settings[setting] = values[env].strip()
    if item.settings.get("storage", "").startswith("/"):
        item.notes.append(
            f"storage {item.settings['storage']} is a folder inside the pod (its PVC): point this entry at a path "
            "or an S3 URL reachable from where the dashboard runs"
        )
    return item
