"""Restores into a MongoDB pod through a Kubernetes Job: the typed request is validated, serialised whole
into the Job, and the Job is followed to its end. The one path the CLI and the dashboard both take."""

from __future__ import annotations

from collections.abc import Callable

from engine.kube import cluster as kube
from engine.restore.request import RestoreRequest, request_to_json


def restore_into_pod(
    target: kube.KubeTarget,
    pod: str,
    request: RestoreRequest,
    *,
    cronjob: str = "vaultui-backup",
    poll: float = 2.0,
    on_started: Callable[[str], None] | None = None,
    on_status: Callable[[str], None] | None = None,
) -> kube.JobOutcome:
    """Validates `request` before anything is created in the cluster, starts the Job, follows it."""
    request.validate()
    job = kube.start_restore_job(target, pod, request_to_json(request), cronjob=cronjob)
    name = job.metadata.name
    if on_started:
        on_started(name)
    return kube.follow_job(target, name, poll=poll, on_status=on_status)
