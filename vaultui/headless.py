"""The headless commands: each resolves its settings, calls the engine, prints the result, returns an exit code.

Long because every command still lives here: vaultui/commands/ (one module per command, typed options,
callable in-process) is the part of issue 28 not done yet."""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import humanize

from engine.archive.catalog import ArchiveEntry, clock_skew, find_archive, list_archives
from engine.archive.holds import place_hold, release_hold
from engine.common.config import drill_uri, handed_over, source_uri, target_uri
from engine.common.errors import ConfigError, KubernetesError, VaultError
from engine.common.namespaces import NamespaceFilter
from engine.common.states import RestoreAction, RestoreMode
from engine.evidence.ledger import RunRecord
from engine.evidence.verifications import archive_state, read_verifications
from engine.run_options import backup_options, namespace_filter, restore_request, retention_policy
from engine.run_options import schedule as schedule_from
from engine.sla.compliance import Schedule
from engine.sla.retention import PurgePlan, PurgeResult, RetentionPolicy, apply_purge, make_plan
from engine.sla.rto import recovery_met, verdict
from engine.sla.status import StatusSummary, summarize
from engine.storage import IGNORED_REASON, Storage, ignored_names, open_storage
from vaultui.exit_codes import ExitCode
from vaultui.output import log_event, print_json

if TYPE_CHECKING:  # the heavy engine modules (MongoDB driver, codecs) load inside the commands that use them
    from engine.evidence.verify import VerifyReport
    from engine.pitr.capture import CaptureStats
    from engine.pitr.plan import PointInTime
    from engine.restore.request import RestoreRequest
from vaultui.formatting import duration_text, short_age


def _storage(arguments: argparse.Namespace) -> Storage:
    storage = open_storage(arguments.settings.storage)
    arguments.opened_storages = [*getattr(arguments, "opened_storages", []), storage]
    return storage


def name_ignored_objects(arguments: argparse.Namespace) -> None:
    """Once per command, on stderr: the objects its listings left out because their names are not UTF-8
    (`status` lists them among what it skipped)."""
    if arguments.command == "status":
        return
    named = {name for storage in getattr(arguments, "opened_storages", []) for name in ignored_names(storage)}
    for name in sorted(named):
        print(f"vaultui: WARNING: {name}: {IGNORED_REASON}", file=sys.stderr)


def _namespaces(arguments: argparse.Namespace, system: bool = False) -> NamespaceFilter:
    return namespace_filter(arguments.settings, system)


def _schedule(arguments: argparse.Namespace) -> Schedule:
    return schedule_from(arguments.settings)


def _policy(arguments: argparse.Namespace) -> RetentionPolicy:
    return retention_policy(arguments.settings)


def _rto(arguments: argparse.Namespace) -> float:
    return float(arguments.settings.rto_seconds)


def _summary(arguments: argparse.Namespace, storage: Storage) -> StatusSummary:
    return summarize(
        storage,
        datetime.now(UTC),
        schedule=_schedule(arguments),
        policy=_policy(arguments),
        window_days=arguments.settings.window_days,
        target_percent=arguments.settings.target_percent,
        rto_seconds=_rto(arguments),
        rpo_seconds=arguments.settings.rpo_seconds or None,
    )


@contextlib.contextmanager
def _metrics_after(arguments: argparse.Namespace, storage: Storage) -> Iterator[None]:
    """Publishes metrics when the command ends, failed or not: a failed backup is what alerts must see."""
    metrics_file = Path(arguments.settings.metrics_file) if arguments.settings.metrics_file else None
    pushgateway = arguments.settings.pushgateway
    try:
        yield
    finally:
        if metrics_file or pushgateway:
            try:
                from engine.sla.metrics import publish

                publish(_summary(arguments, storage), metrics_file=metrics_file, pushgateway=pushgateway or None)
            except VaultError as error:
                print(f"vaultui: metrics not published: {error}", file=sys.stderr)


def _oplog_plan_line(plan: PurgePlan) -> str:
    """The oplog's part of a purge plan, in one line."""
    from engine.pitr.store import timestamp_time

    if not plan.chunks:
        return f"keep   oplog: all {plan.chunks_kept} chunks (kept archives replay from them)"
    size = humanize.naturalsize(sum(ref.size for ref in plan.chunks), binary=True)
    return (
        f"delete oplog: {len(plan.chunks)} chunks ({size}) up to "
        f"{timestamp_time(plan.chunks[-1].last):%Y-%m-%d %H:%M} UTC, which no kept archive replays; "
        f"keep {plan.chunks_kept}"
    )


def _purge_line(result: PurgeResult) -> str:
    for name, reason in result.skipped:
        print(f"vaultui: WARNING: could not delete {name}, skipped it: {reason}", file=sys.stderr)
    return result.describe()


def backup(arguments: argparse.Namespace) -> ExitCode:
    storage = _storage(arguments)
    with _metrics_after(arguments, storage):
        return _backup(arguments, storage)


def _backup(arguments: argparse.Namespace, storage: Storage) -> ExitCode:
    from engine.backup.run import run_backup
    from vaultui.output import ProgressReporter

    policy = _policy(arguments) if arguments.purge else None
    options = backup_options(
        arguments.settings,
        system_databases=arguments.system_databases,
        spool_dir=arguments.spool_dir,
        read_back=not arguments.no_read_back,
    )
    uri = source_uri(arguments.mongo_uri_file)
    if not uri:
        raise ConfigError("no MongoDB URI for the source: set VAULTUI_MONGO_URI or pass --mongo-uri-file")
    reporter = ProgressReporter()
    log_event("backup.started", storage=storage.url, codec=options.codec, dumper=options.dumper)
    try:
        result = run_backup(storage, uri, options, progress=reporter)
    finally:
        reporter.close()
    manifest = result.manifest
    log_event(
        "backup.finished",
        archive=manifest.archive,
        bytes=manifest.archive_bytes,
        documents=manifest.documents,
        collections=len(manifest.collections),
        duration_seconds=manifest.duration_seconds,
        skipped=manifest.skipped,
    )
    print(
        f"{manifest.archive}: {len(manifest.collections)} collections, {humanize.intcomma(manifest.documents)} "
        f"documents, {humanize.naturalsize(manifest.archive_bytes, binary=True)} in {manifest.duration_seconds:.1f} s"
    )
    if policy is not None:  # only after a success: failing backups never purge the last good archives
        purged = apply_purge(storage, policy)
        log_event("purge.finished", deleted=purged.deleted, freed_bytes=purged.freed_bytes)
        print(_purge_line(purged))
    return ExitCode.OK


def _entry_json(entry: ArchiveEntry, now: datetime, verifications: dict[str, bool]) -> dict[str, object]:
    return {
        "name": entry.name,
        "time": entry.ref.time.isoformat(),
        "age_seconds": int((now - entry.ref.time).total_seconds()),
        "bytes": entry.size,
        "codec": entry.ref.codec,
        "status": str(archive_state(entry, verifications)),
        "legacy": entry.ref.legacy,
    }


def list_command(arguments: argparse.Namespace) -> ExitCode:
    storage = _storage(arguments)
    entries = list_archives(storage)
    verifications = read_verifications(storage) if entries else {}
    now = datetime.now(UTC)
    if arguments.json:
        print_json([_entry_json(entry, now, verifications) for entry in entries], indent=1)
        return ExitCode.OK
    if not entries:
        print(f"no archives in {storage.url}: run `vaultui --headless backup` to make the first one")
        return ExitCode.OK
    print(f"{'ARCHIVE':<26} {'DATE (UTC)':<20} {'AGE':<6} {'SIZE':>10} {'CODEC':<6} STATUS")
    for entry in entries:
        state = archive_state(entry, verifications)
        print(
            f"{entry.name:<26} {entry.ref.time:%Y-%m-%d %H:%M:%S}  {short_age(now - entry.ref.time):<6} "
            f"{humanize.naturalsize(entry.size, binary=True):>10} {entry.ref.codec:<6} {state}"
        )
    return ExitCode.OK


def _report_json(report: VerifyReport) -> dict[str, object]:
    return {
        "archive": report.archive,
        "ok": report.ok,
        "status": report.status,
        "checksum_checked": report.checksum_checked,
        "contents_checked": report.contents_checked,
        "checked": None if report.unreadable else report.checked,
        "prelude": None if report.prelude is None else asdict(report.prelude),
        "collections": len(report.collections),
        "documents": report.documents,
        "bytes": report.archive_bytes,
        "duration_seconds": report.duration_seconds,
        "problems": report.problems,
        "unreadable": report.unreadable or None,
        "not_restored": report.not_restored,
        "sealed": report.sealed or None,  # encrypted, checked without its key: what was not checked
    }


def verify(arguments: argparse.Namespace) -> ExitCode:
    from engine.evidence.verify import verify_and_record
    from vaultui.output import ProgressReporter

    storage = _storage(arguments)
    if arguments.ledger:
        from engine.evidence.ledger import check_ledger

        check = check_ledger(storage)
        if arguments.json:
            print_json({"intact": check.intact, "checked": check.checked, "problems": check.problems})
        else:
            print(check.summary())
            for problem in check.problems:
                print(f"  - {problem}")
        return ExitCode.OK if check.intact else ExitCode.VERIFICATION_FAILED
    entries = list_archives(storage) if arguments.all else [find_archive(storage, arguments.name)]
    reports = []
    for entry in entries:
        reporter = ProgressReporter()
        try:
            report = verify_and_record(storage, entry, progress=reporter, keyless=True)
        finally:
            reporter.close()
        reports.append(report)
        if not arguments.json:
            verdict = "ok" if report.ok else "UNREADABLE (skipped)" if report.unreadable else "FAILED"
            print(
                f"{report.archive}: {verdict} ({report.status}; {len(report.collections)} collections, "
                f"{humanize.intcomma(report.documents)} documents)"
            )
            if not report.unreadable:
                print(f"  checked: {report.checked}")
            if report.prelude is not None:
                print(f"  {report.prelude.describe()}")
            for problem in report.problems:
                print(f"  - {problem}")
            for item in report.not_restored:
                print(f"  - will not be restored: {item}")
    if arguments.json:
        print_json([_report_json(report) for report in reports], indent=1)
    elif not entries:
        print(f"no archives in {storage.url}")
    elif len(reports) > 1:
        good = sum(report.ok for report in reports)
        unreadable = sum(bool(report.unreadable) for report in reports)
        print(f"{len(reports)} archives: {good} ok, {len(reports) - good - unreadable} failed, {unreadable} unreadable")
    if any(not report.ok and not report.unreadable for report in reports):
        return ExitCode.VERIFICATION_FAILED
    return ExitCode.STORAGE if any(report.unreadable for report in reports) else ExitCode.OK


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date {text!r} is not a date: use YYYY-MM-DD (UTC)") from None


def restore_in_cluster(arguments: argparse.Namespace, request: RestoreRequest) -> ExitCode:
    from engine.kube import cluster as kube  # the Kubernetes client loads only for commands that need it
    from engine.kube.pod_restore import restore_into_pod

    target = kube.connect(arguments.kube_context, arguments.kube_namespace)

    def started(name: str) -> None:
        print(
            f"started Job {name} in {target.context}/{target.namespace}: it restores into pod {arguments.pod} "
            "and keeps running if this terminal goes away",
            flush=True,
        )

    outcome = restore_into_pod(
        target,
        arguments.pod,
        request,
        cronjob=arguments.cronjob,
        on_started=started,
        on_status=lambda text: log_event("restore.job", pod=arguments.pod, status=text),
    )
    name = outcome.name
    if outcome.logs:
        print(outcome.logs.rstrip())
    if not outcome.succeeded:
        raise KubernetesError(f"restore Job {name} failed ({outcome.reason}); its log is above")
    print(f"restore Job {name} completed")
    return ExitCode.OK


def restore(arguments: argparse.Namespace) -> ExitCode:
    request = _request_from_env(arguments) if arguments.request_env else _request_from_flags(arguments)
    if arguments.pod:  # a restore to a time too: the Job plans it and replays where it runs
        return restore_in_cluster(arguments, request)
    if request.to_time:
        return _restore_to_time(arguments, request)
    return _restore_here(arguments, request)


def _restore_to_time(arguments: argparse.Namespace, request: RestoreRequest) -> ExitCode:
    """Plans first (the base, every chunk checked), shows the plan, then restores the base and replays."""
    from engine.evidence.ledger import list_runs
    from engine.pitr.plan import plan_point_in_time
    from engine.pitr.store import timestamp_time
    from engine.sla.forecast import restore_seconds

    storage = _storage(arguments)
    assert request.to_time is not None
    plan = plan_point_in_time(storage, request.to_time)
    until = f"{timestamp_time(plan.until):%Y-%m-%d %H:%M:%S} UTC"
    forecast = restore_seconds(list_runs(storage, "restore", limit=20), plan.base.size, plan.entries)
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
    return _restore_here(arguments, request, plan)


def _request_from_env(arguments: argparse.Namespace) -> RestoreRequest:
    """What a restore Job runs: the whole request, as the CLI or dashboard that started the Job made it."""
    from engine.restore.request import REQUEST_ENV, request_from_json

    given = [
        flag
        for flag, value in (
            ("--latest", arguments.latest),
            ("--archive", arguments.archive),
            ("--date", arguments.date),
            ("--to-time", arguments.to_time),
        )
        if value
    ]
    if given:
        raise ConfigError(f"--request-env carries the whole request: drop {', '.join(given)}")
    text = handed_over(REQUEST_ENV)
    if not text:
        raise ConfigError(f"--request-env given but {REQUEST_ENV} is empty")
    return request_from_json(text)


def _request_from_flags(arguments: argparse.Namespace) -> RestoreRequest:
    from engine.common.remap import build_renames

    request = restore_request(
        arguments.settings,
        latest=arguments.latest or bool(arguments.to_time),  # --to-time chooses its own base archive
        archive=arguments.archive,
        day=_day(arguments.date) if arguments.date else None,
        renames=build_renames(arguments.ns_from, arguments.ns_to),
        mode="drop" if arguments.drop else "if-empty" if arguments.if_empty else "guarded",
        dry_run=arguments.dry_run,
        indexes=not arguments.no_indexes,
        keep_index_specs=arguments.keep_index_specs,
        two_pass=arguments.two_pass,
        to_time=arguments.to_time,
        across_restores=arguments.across_restores,
    )
    request.validate()
    return request


def _restore_here(arguments: argparse.Namespace, request: RestoreRequest, plan: PointInTime | None = None) -> ExitCode:
    from engine.common.redact import with_host
    from engine.restore.run import run_restore
    from engine.restore.to_time import restore_to_time
    from vaultui.output import ProgressReporter

    storage = _storage(arguments)
    uri = target_uri(arguments.target_uri_file)
    if not uri:
        raise ConfigError("no target MongoDB URI: set VAULTUI_TARGET_URI or pass --target-uri-file")
    if arguments.target_host:
        uri = with_host(uri, arguments.target_host)
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
    if result.status == "dry-run":
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
    if result.status == "skipped":
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
    print(
        f"restored in {duration_text(result.duration_seconds)} "
        f"(RTO target {duration_text(result.rto_seconds)}: {verdict(result.rto_met)})"
    )
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


def purge(arguments: argparse.Namespace) -> ExitCode:
    storage = _storage(arguments)
    policy = _policy(arguments)
    with _metrics_after(arguments, storage):
        if arguments.dry_run:
            plan = make_plan(storage, policy, datetime.now(UTC))
            if arguments.json:
                print_json(
                    [
                        {
                            "archive": d.name,
                            "action": d.action,
                            "reason": d.reason,
                            "age_days": d.age_days,
                            "purge_in_days": d.purge_in_days,
                        }
                        for d in plan.decisions
                    ]
                    + [{"oplog_chunk": ref.key, "action": "delete", "bytes": ref.size} for ref in plan.chunks],
                    indent=1,
                )
                return ExitCode.OK
            print(
                f"purge plan (dry run, limit {policy.max_age_days} days): {len(plan.deletions)} to delete, "
                f"{len(plan.keepers)} to keep"
            )
            for decision in plan.decisions:
                print(f"  {decision.action:<6} {decision.name:<26} {decision.reason}")
            if plan.chunks or plan.chunks_kept:
                print(f"  {_oplog_plan_line(plan)}")
            return ExitCode.OK
        result = apply_purge(storage, policy)
        if arguments.json:
            skipped = [{"archive": name, "reason": reason} for name, reason in result.skipped]
            print_json({"deleted": result.deleted, "freed_bytes": result.freed_bytes, "skipped": skipped})
        else:
            print(_purge_line(result))
            for name in result.deleted:
                print(f"  deleted {name}")
    return ExitCode.OK if result.complete else ExitCode.STORAGE


def hold(arguments: argparse.Namespace) -> ExitCode:
    placed = place_hold(_storage(arguments), arguments.name, arguments.reason)
    print(f"held {placed.archive}: {placed.reason}")
    return ExitCode.OK


def unhold(arguments: argparse.Namespace) -> ExitCode:
    released = release_hold(_storage(arguments), arguments.name)
    print(f"released the hold on {released.archive} (was: {released.reason})")
    return ExitCode.OK


def holds_command(arguments: argparse.Namespace) -> ExitCode:
    from engine.archive.holds import list_holds

    found = list_holds(_storage(arguments))
    if arguments.json:
        listed = [{**asdict(item.hold), "orphaned": item.orphaned, "locked": item.locked} for item in found]
        print_json(listed, indent=1)
        return ExitCode.OK
    for item in found:
        state = "ORPHANED (archive gone: unhold releases it)" if item.orphaned else "held"
        state += {True: ", S3 legal hold", False: ", NO S3 legal hold", None: ""}[item.locked]
        print(f"{item.hold.archive}  {state}: {item.hold.describe()}")
    if not found:
        print("no holds")
    return ExitCode.OK


def oplog_command(arguments: argparse.Namespace) -> ExitCode:
    from engine.mongo.connect import connect
    from engine.pitr.capture import CaptureStats, capture
    from engine.pitr.store import ChunkManifest, timestamp_time

    storage = _storage(arguments)
    uri = source_uri(arguments.mongo_uri_file)
    if not uri:
        raise ConfigError("no source MongoDB URI: set VAULTUI_MONGO_URI or pass --mongo-uri-file")
    client = connect(uri, role="source")
    log_event("oplog.started", storage=storage.url)
    latest = CaptureStats()

    def flushed(chunk: ChunkManifest, stats: CaptureStats) -> None:
        nonlocal latest
        latest = stats
        log_event(
            "oplog.chunk",
            chunk=chunk.chunk,
            entries=chunk.count,
            bytes=chunk.bytes,
            up_to=f"{timestamp_time(chunk.last_ts):%Y-%m-%dT%H:%M:%SZ}",
            lag_seconds=round(stats.lag_seconds, 1),
        )
        _publish_capture(arguments, stats)

    stopped = ""
    try:
        latest = capture(
            client,
            storage,
            flush_seconds=arguments.flush_seconds,
            flush_bytes=int(arguments.flush_mib * 1024 * 1024),
            once=arguments.once,
            on_flush=flushed,
            recipients=arguments.settings.age_recipients,
        )
    except KeyboardInterrupt:
        stopped = " (stopped)"  # SIGTERM is how its Deployment stops it: what it held was committed first
    finally:
        client.close()
    log_event("oplog.stopped", chunks=latest.chunks, entries=latest.entries, gaps=latest.gaps, lag=latest.lag_seconds)
    print(f"captured {latest.entries} oplog entries in {latest.chunks} chunks ({latest.gaps} gaps found){stopped}")
    return ExitCode.OK


def _publish_capture(arguments: argparse.Namespace, stats: CaptureStats) -> None:
    """The capture's own figures, after each chunk, where metrics are asked for (a textfile or a gateway)."""
    from prometheus_client import CollectorRegistry, Gauge

    from engine.sla.metrics import push_registry

    registry = CollectorRegistry()
    Gauge("vaultui_oplog_lag_seconds", "Age of the newest oplog entry committed", registry=registry).set(
        stats.lag_seconds
    )
    Gauge("vaultui_oplog_captured_entries", "Oplog entries this capture committed", registry=registry).set(
        stats.entries
    )
    Gauge("vaultui_oplog_captured_bytes", "Bytes of oplog chunks this capture committed", registry=registry).set(
        stats.bytes
    )
    Gauge("vaultui_oplog_capture_gaps", "Gaps this capture found", registry=registry).set(stats.gaps)
    settings = arguments.settings
    push_registry(
        registry,
        metrics_file=Path(settings.metrics_file) if settings.metrics_file else None,
        pushgateway=settings.pushgateway,
        job="vaultui-oplog",
    )


def unlock(arguments: argparse.Namespace) -> ExitCode:
    from engine.evidence.lease import unlock as clear_leases

    removed, kept = clear_leases(_storage(arguments), everything=arguments.all)
    for lease in removed:
        print(f"removed the lease of {lease.describe()}")
    for lease in kept:
        print(f"kept the live lease of {lease.describe()} (--all removes it)")
    if not removed and not kept:
        print("no leases: no run holds the storage")
    return ExitCode.OK


def _run_json(run: RunRecord | None) -> dict[str, object] | None:
    if run is None:
        return None
    return {
        "started": run.started_at,
        "archive": run.archive,
        "result": run.result,
        "duration_seconds": run.duration_seconds,
    }


def status(arguments: argparse.Namespace) -> ExitCode:
    storage = _storage(arguments)
    with _metrics_after(arguments, storage):
        summary = _summary(arguments, storage)
    compliance = summary.compliance
    percent = None if compliance.percent is None else round(compliance.percent, 2)
    if arguments.json:
        print_json(
            {
                "compliance_percent": percent,
                "target_percent": compliance.target_percent,
                "expected": compliance.expected,
                "met": compliance.met,
                "stale": compliance.stale,
                "missed": [{"slot": slot.start.isoformat(), "cause": slot.cause} for slot in compliance.missed],
                "last_success": compliance.last_success.isoformat() if compliance.last_success else None,
                "next_slot": compliance.next_slot.isoformat() if compliance.next_slot else None,
                "archives": len(summary.archives),
                "total_bytes": summary.total_bytes,
                "newest": summary.newest.name if summary.newest else None,
                "oldest": summary.oldest.name if summary.oldest else None,
                "next_purge": summary.next_purge.isoformat() if summary.next_purge else None,
                "rto_seconds": summary.rto_seconds,
                "last_restore": _run_json(summary.last("restore")),
                "last_drill": _run_json(summary.last("drill")),
                "unfinished_writes": [
                    {"key": item.key, "started": item.modified.isoformat(), "bytes": item.size}
                    for item in summary.unfinished
                ],
                "leases": [
                    {
                        "kind": lease.kind,
                        "run_id": lease.run_id,
                        "host": lease.host,
                        "since": lease.acquired_at,
                        "expires": lease.expires_at,
                        "expired": lease.expired(summary.now),
                        "archives": lease.archives,
                    }
                    for lease in summary.leases
                ],
                "broken": summary.broken,
                "unopenable": summary.unopenable,
                "ledger": None
                if summary.ledger is None
                else {"intact": summary.ledger.intact, "problems": summary.ledger.problems},
                "restorable": {
                    "spans": [
                        {"from": span.start.isoformat(), "to": span.end.isoformat()} for span in summary.coverage.spans
                    ],
                    "share_of_window": round(summary.restorable_share, 4),
                    "rpo_seconds": summary.rpo_seconds,
                    "rpo_limit_seconds": summary.rpo_limit,
                    "rpo_exceeded": summary.rpo_exceeded,
                    "oplog_chunks": summary.coverage.chunks,
                    "oplog_bytes": summary.coverage.bytes,
                    "gaps": [{"after": gap.after, "resumed": gap.resumed} for gap in summary.coverage.gaps],
                },
                "forecast": None
                if summary.forecast is None
                else {
                    "samples": summary.forecast.samples,
                    "fixed_seconds": round(summary.forecast.fixed_seconds, 3),
                    "seconds_per_gib": round(summary.forecast.seconds_per_byte * 1024**3, 3),
                    "newest_bytes": summary.forecast.newest_bytes,
                    "expected_seconds": round(summary.forecast.expected_seconds, 1),
                    "growth_bytes_per_day": summary.forecast.growth_bytes_per_day,
                    "days_to_rto": summary.forecast.days_to_rto,
                    "text": summary.forecast.describe(),
                },
                "healthy": summary.healthy,
            },
            indent=1,
        )
    else:
        now = summary.now
        shown = "no data (no scheduled backup was due yet)" if percent is None else f"{percent:.2f} %"
        print(
            f"compliance   {shown} ({compliance.met}/{compliance.expected} slots, target "
            f"{compliance.target_percent:.0f} %){'  BELOW TARGET' if compliance.below_target else ''}"
        )
        last = compliance.last_success
        print(
            f"last success {f'{last:%Y-%m-%d %H:%M} UTC ({humanize.naturaltime(now - last)})' if last else 'never'}"
            f"{'  STALE: the newest scheduled backup did not succeed' if compliance.stale else ''}"
        )
        for slot in compliance.missed[:10]:
            print(f"  missed {slot.start:%Y-%m-%d %H:%M}: {slot.cause}")
        print(
            f"archives     {len(summary.archives)}, {humanize.naturalsize(summary.total_bytes, binary=True)}; "
            f"newest {summary.newest.name if summary.newest else '-'}, "
            f"oldest {summary.oldest.name if summary.oldest else '-'}"
        )
        print(f"next purge   {summary.next_purge:%Y-%m-%d}" if summary.next_purge else "next purge   none due")
        _print_recovery_point(summary)
        skewed = [(entry.name, why) for entry in summary.archives if (why := clock_skew(entry, now))]
        if skewed:
            print(
                f"clock skew   {len(skewed)} archives whose name disagrees with the clocks (check the clock of the "
                "host that wrote them; one named in the future is never the latest, never protected):"
            )
            for name, why in skewed[:5]:
                print(f"  {name}: {why}")
        if summary.unfinished:
            oldest = min(item.modified for item in summary.unfinished)
            print(
                f"unfinished   {len(summary.unfinished)} writes of killed or running runs, oldest started "
                f"{oldest:%Y-%m-%d %H:%M} UTC (the next backup removes those older than 12 h)"
            )
        if summary.ledger is not None:
            print(f"ledger       {summary.ledger.summary().removeprefix('ledger ')}")
        if summary.unopenable:
            print(
                f"KEYS         {len(summary.unopenable)} encrypted archives no configured age identity opens "
                f"(keep the old identity in the file until they age out): {', '.join(summary.unopenable[:3])}"
            )
        if summary.broken:
            print(f"broken       {len(summary.broken)} files skipped as unreadable (each affects only itself):")
            for item in summary.broken[:5]:
                print(f"  {item}")
        for lease in summary.leases:
            if not lease.expired(now):
                print(f"running      {lease.describe()}")
            elif lease in summary.interrupted_restores:
                print(
                    f"INTERRUPTED  {lease.describe()} died before it finished: check its target (one cut short "
                    "while replacing collections left a marker there, which an if-empty restore redoes); unlock "
                    "clears this line"
                )
            else:
                print(f"dead lease   {lease.describe()}: that run died (the next run takes the lease over)")
        for kind in ("restore", "drill"):
            run = summary.last(kind)
            if run is None:
                print(f"last {kind:<8}none")
            else:
                print(
                    f"last {kind:<8}{run.started_at} {run.result}, {duration_text(run.duration_seconds)} "
                    f"(RTO {duration_text(summary.rto_seconds)}: {verdict(recovery_met(run, summary.rto_seconds))})"
                )
        print(
            f"forecast     {summary.forecast.describe() if summary.forecast else 'none until a restore or drill ran'}"
        )
    if summary.compliance.below_target or summary.compliance.stale:
        return ExitCode.COMPLIANCE_BELOW_TARGET
    return ExitCode.RPO_EXCEEDED if summary.rpo_exceeded else ExitCode.OK


def _long_duration(seconds: float) -> str:
    return duration_text(seconds) if seconds < 3600 else humanize.precisedelta(timedelta(seconds=seconds))


def _print_recovery_point(summary: StatusSummary) -> None:
    from engine.pitr.coverage import describe_window

    coverage = summary.coverage
    print(
        f"restorable   {describe_window(coverage, summary.now)}; {summary.restorable_share * 100:.2f} % of the "
        f"last {summary.window_days} days"
    )
    rpo = summary.rpo_seconds
    limit = f" (threshold {_long_duration(summary.rpo_limit)})" if summary.rpo_limit is not None else ""
    shown = "none: nothing is restorable" if rpo is None else _long_duration(rpo)
    print(f"rpo          {shown}{limit}{'  EXCEEDED' if summary.rpo_exceeded else ''}")
    if coverage.capturing:
        print(
            f"oplog        {humanize.intcomma(coverage.chunks)} chunks, "
            f"{humanize.naturalsize(coverage.bytes, binary=True)}, {len(coverage.gaps)} gaps"
        )
    for gap in coverage.gaps[-5:]:
        print(
            f"  GAP {gap.began:%Y-%m-%d %H:%M:%S} to {gap.ended:%Y-%m-%d %H:%M:%S} UTC: {gap.reason} (no restore to "
            "a time inside it)"
        )


def drill(arguments: argparse.Namespace) -> ExitCode:
    from engine.restore.drill import run_drill
    from vaultui.output import ProgressReporter

    storage = _storage(arguments)
    uri = drill_uri(arguments.target_uri_file)
    if not uri:
        raise ConfigError("no drill target: set VAULTUI_DRILL_URI (or VAULTUI_TARGET_URI) or pass --target-uri-file")
    with _metrics_after(arguments, storage):
        reporter = ProgressReporter()
        try:
            result = run_drill(storage, uri, archive=arguments.archive, rto_seconds=_rto(arguments), progress=reporter)
        finally:
            reporter.close()
    log_event(
        "drill.finished",
        archive=result.archive,
        documents=result.documents,
        duration_seconds=result.duration_seconds,
        rto_met=result.rto_met,
    )
    print(
        f"drill of {result.archive}: {result.namespaces} namespaces, {humanize.intcomma(result.documents)} "
        "documents restored and checked against the archive, scratch data dropped"
    )
    print(
        f"restored in {duration_text(result.duration_seconds)} "
        f"(RTO target {duration_text(result.rto_seconds)}: {verdict(result.rto_met)})"
    )
    return ExitCode.OK


def report(arguments: argparse.Namespace) -> ExitCode:
    from engine.sla.report import build_report, render

    storage = _storage(arguments)
    data = build_report(
        storage,
        arguments.month,
        schedule=_schedule(arguments),
        policy=_policy(arguments),
        now=datetime.now(UTC),
        rto_seconds=_rto(arguments),
        target_percent=arguments.settings.target_percent,
    )
    text = render(data, arguments.format)
    if arguments.output:
        arguments.output.write_text(text)
        print(f"wrote {arguments.output}")
    else:
        sys.stdout.write(text)
    return ExitCode.OK


COMMANDS: dict[str, Callable[[argparse.Namespace], ExitCode]] = {
    "backup": backup,
    "list": list_command,
    "verify": verify,
    "restore": restore,
    "purge": purge,
    "hold": hold,
    "unhold": unhold,
    "unlock": unlock,
    "oplog": oplog_command,
    "holds": holds_command,
    "status": status,
    "drill": drill,
    "report": report,
}
