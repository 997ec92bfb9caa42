"""`restore`: an archive (latest good, by name, by day) or a point in time, into a URI here or into a pod
through a Kubernetes Job; the request is built once, from the flags or from the Job's environment."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import humanize

from engine.common.config import handed_over, target_uri
from engine.common.errors import ConfigError, KubernetesError
from engine.common.states import RestoreAction, RestoreMode, RestoreStatus, RunKind
from engine.run_options import restore_request
from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode
from vaultui.formatting import against_rto, duration_text
from vaultui.output import log_event

if TYPE_CHECKING:  # the heavy engine modules (MongoDB driver, codecs) load inside the commands that use them
    from engine.pitr.plan import PointInTime
    from engine.restore.request import RestoreRequest


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `restore` (the settings they set are resolved into the context's Settings)."""

    across_restores: bool = False
    archive: str | None = None
    cronjob: str = "vaultui-backup"
    date: str | None = None
    drop: bool = False
    dry_run: bool = False
    if_empty: bool = False
    keep_index_specs: bool = False
    kube_context: str | None = None
    kube_namespace: str | None = None
    latest: bool = False
    no_indexes: bool = False
    ns_from: list[str] | None = None
    ns_to: list[str] | None = None
    pod: str | None = None
    request_env: bool = False
    target_host: str | None = None
    target_uri_file: Path | None = None
    to_time: str | None = None
    two_pass: bool = False


def run(options: Options, context: Context) -> ExitCode:
    request = _request_from_env(options) if options.request_env else _request_from_flags(options, context)
    if options.pod:  # a restore to a time too: the Job plans it and replays where it runs
        return restore_in_cluster(options, context, request)
    if request.to_time:
        return _restore_to_time(options, context, request)
    return _restore_here(options, context, request)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date {text!r} is not a date: use YYYY-MM-DD (UTC)") from None


def restore_in_cluster(options: Options, context: Context, request: RestoreRequest) -> ExitCode:
    from engine.kube import cluster as kube  # the Kubernetes client loads only for commands that need it
    from engine.kube.pod_restore import restore_into_pod

    pod = options.pod or ""
    target = kube.connect(options.kube_context, options.kube_namespace)

    def started(name: str) -> None:
        print(
            f"started Job {name} in {target.context}/{target.namespace}: it restores into pod {options.pod} "
            "and keeps running if this terminal goes away",
            flush=True,
        )

    outcome = restore_into_pod(
        target,
        pod,
        request,
        cronjob=options.cronjob,
        on_started=started,
        on_status=lambda text: log_event("restore.job", pod=options.pod, status=text),
    )
    name = outcome.name
    if outcome.logs:
        print(outcome.logs.rstrip())
    if not outcome.succeeded:
        raise KubernetesError(f"restore Job {name} failed ({outcome.reason}); its log is above")
    print(f"restore Job {name} completed")
    return ExitCode.OK


def _restore_to_time(options: Options, context: Context, request: RestoreRequest) -> ExitCode:
    """Plans first (the base, every chunk checked), shows the plan, then restores the base and replays."""
    from engine.evidence.ledger import list_runs
    from engine.pitr.plan import plan_point_in_time
    from engine.pitr.store import timestamp_time
    from engine.sla.forecast import restore_seconds

    storage = context.storage()
    assert request.to_time is not None
    plan = plan_point_in_time(storage, request.to_time)
    until = f"{timestamp_time(plan.until):%Y-%m-%d %H:%M:%S} UTC"
    forecast = restore_seconds(list_runs(storage, RunKind.RESTORE, limit=20), plan.base.size, plan.entries)
    print(
        f"to {until}: base {plan.base.name}, then {humanize.intcomma(plan.entries)} oplog entries from "
        f"{len(plan.chunks)} chunk{'s' if len(plan.chunks) != 1 else ''} (checked); expected duration "
        + (duration_text(forecast) if forecast is not None else "unknown (no restore measured here yet)")
    )
    if plan.chunks:
        print(f"  oplog chunks {plan.chunks[0].chunk} … {plan.chunks[-1].chunk}")
    for caveat in plan.caveats:
        print(f"vaultui: WARNING: {caveat}", file=sys.stderr)
    if plan.restores_between and (request.across_restores or request.dry_run):
        going_on = "going on (--across-restores): " if request.across_restores else ""
        print(f"vaultui: WARNING: {going_on}{plan.interference()}", file=sys.stderr)
    return _restore_here(options, context, request, plan)


def _request_from_env(options: Options) -> RestoreRequest:
    """What a restore Job runs: the whole request, as the CLI or dashboard that started the Job made it."""
    from engine.restore.request import REQUEST_ENV, request_from_json

    given = [
        flag
        for flag, value in (
            ("--latest", options.latest),
            ("--archive", options.archive),
            ("--date", options.date),
            ("--to-time", options.to_time),
        )
        if value
    ]
    if given:
        raise ConfigError(f"--request-env carries the whole request: drop {', '.join(given)}")
    text = handed_over(REQUEST_ENV)
    if not text:
        raise ConfigError(f"--request-env given but {REQUEST_ENV} is empty")
    return request_from_json(text)


def _request_from_flags(options: Options, context: Context) -> RestoreRequest:
    from engine.common.remap import build_renames

    request = restore_request(
        context.settings,
        latest=options.latest or bool(options.to_time),  # --to-time chooses its own base archive
        archive=options.archive,
        day=_day(options.date) if options.date else None,
        renames=build_renames(options.ns_from, options.ns_to),
        mode="drop" if options.drop else "if-empty" if options.if_empty else "guarded",
        dry_run=options.dry_run,
        indexes=not options.no_indexes,
        keep_index_specs=options.keep_index_specs,
        two_pass=options.two_pass,
        to_time=options.to_time,
        across_restores=options.across_restores,
    )
    request.validate()
    return request


def _restore_here(
    options: Options, context: Context, request: RestoreRequest, plan: PointInTime | None = None
) -> ExitCode:
    from engine.common.redact import with_host
    from engine.restore.run import run_restore
    from engine.restore.to_time import restore_to_time
    from vaultui.output import ProgressReporter

    storage = context.storage()
    uri = target_uri(options.target_uri_file)
    if not uri:
        raise ConfigError("no target MongoDB URI: set VAULTUI_TARGET_URI or pass --target-uri-file")
    if options.target_host:
        uri = with_host(uri, options.target_host)
    reporter = ProgressReporter()
    log_event("restore.started", storage=storage.url, mode=request.mode, loader=request.loader)
    try:
        if request.to_time:
            result = restore_to_time(storage, uri, request, plan=plan, progress=reporter)
        else:
            result = run_restore(storage, uri, request, progress=reporter)
    finally:
        reporter.close()
    for name, reason in result.rejected:
        print(f"vaultui: WARNING: {name} was skipped: {reason}", file=sys.stderr)
    for unmapped in result.not_restored:
        print(f"vaultui: WARNING: {result.archive}: will not be restored: {unmapped}", file=sys.stderr)
    for warning in result.warnings:
        print(f"vaultui: WARNING: {warning}", file=sys.stderr)
    if result.status == RestoreStatus.DRY_RUN:
        print(f"dry run: would restore {result.archive} (verified) with mode {request.mode}:")
        for item in result.plan:
            now = f"holds {item.target_documents} documents" if item.target_documents else "empty"
            action = item.action(request.mode)
            print(f"  {item.source} -> {item.target}: {item.documents} documents ({item.type}; target {now}: {action})")
        if request.mode == RestoreMode.GUARDED and any(
            item.action(request.mode) == RestoreAction.REFUSE for item in result.plan
        ):
            print("the restore would be refused: the target holds data (--drop replaces it, --if-empty skips)")
            return ExitCode.TARGET_NOT_EMPTY
        return ExitCode.OK
    if result.status == RestoreStatus.SKIPPED:
        print(f"restore skipped (--if-empty): {result.reason}")
        log_event("restore.skipped", archive=result.archive, reason=result.reason)
        return ExitCode.OK
    log_event(
        "restore.finished",
        archive=result.archive,
        documents=result.documents,
        duplicates=result.duplicates,
        indexes=result.indexes,
        duration_seconds=result.duration_seconds,
        rto_met=result.rto_met,
    )
    duplicates = f", {result.duplicates} duplicate-key conflicts skipped" if result.duplicates else ""
    print(
        f"restored {result.archive}: {len(result.plan)} namespaces, {humanize.intcomma(result.documents)} documents"
        f"{duplicates}, {result.indexes} indexes"
    )
    if plan is not None:
        print(f"replayed {humanize.intcomma(plan.entries)} oplog entries: {plan.outcome()}")
    print("restored " + against_rto(result.duration_seconds, result.rto_seconds, result.rto_met))
    if result.reason:
        print(f"vaultui: WARNING: {result.reason}", file=sys.stderr)
    for change in result.index_changes:
        print(f"index spec normalised: {change}")
    for namespace, index, message in result.indexes_refused:
        print(f"vaultui: WARNING: the target refused index {index} of {namespace}: {message}", file=sys.stderr)
    if result.indexes_refused:
        print(f"restored, {len(result.indexes_refused)} indexes refused (every other index was built)")
        return ExitCode.INDEXES_REFUSED
    return ExitCode.OK
