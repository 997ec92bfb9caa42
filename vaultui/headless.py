"""The headless commands: each resolves its settings, calls the engine, prints the result, returns an exit code."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, date, datetime

import humanize

from engine.backup import DEFAULT_CODEC, BackupOptions, run_backup
from engine.catalog import ArchiveEntry, find_archive, list_archives
from engine.config import read_secret, setting, split_list
from engine.errors import ConfigError, ExitCode
from engine.remap import build_renames
from engine.restore import DEFAULT_RTO_SECONDS, RestoreRequest, run_restore
from engine.source import NamespaceFilter
from engine.storage import Storage, open_storage
from engine.verify import VerifyReport, verify_archive
from vaultui.output import ProgressReporter, log_event


def _storage(arguments: argparse.Namespace) -> Storage:
    return open_storage(setting(arguments.storage, "storage", "", str))


def _namespaces(arguments: argparse.Namespace, system: bool = False) -> NamespaceFilter:
    return NamespaceFilter(
        databases=tuple(arguments.db) if arguments.db else setting(None, "db", (), split_list),
        include=tuple(arguments.ns_include) if arguments.ns_include else setting(None, "ns_include", (), split_list),
        exclude=tuple(arguments.ns_exclude) if arguments.ns_exclude else setting(None, "ns_exclude", (), split_list),
        system_databases=system,
    )


def backup(arguments: argparse.Namespace) -> ExitCode:
    storage = _storage(arguments)
    options = BackupOptions(
        codec=setting(arguments.codec, "codec", DEFAULT_CODEC, str),
        dumper=setting(arguments.dumper, "dumper", "native", str),
        namespaces=_namespaces(arguments, arguments.system_databases),
        parallel=setting(arguments.parallel, "parallel", 4, int),
        spool_dir=arguments.spool_dir,
        connect_timeout=setting(arguments.connect_timeout, "connect_timeout", 10.0, float),
    )
    uri = read_secret("VAULTUI_MONGO_URI", arguments.mongo_uri_file, "MongoDB URI")
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
    return ExitCode.OK


def _entry_json(entry: ArchiveEntry, now: datetime) -> dict[str, object]:
    return {
        "name": entry.name,
        "time": entry.ref.time.isoformat(),
        "age_seconds": int((now - entry.ref.time).total_seconds()),
        "bytes": entry.size,
        "codec": entry.ref.codec,
        "status": entry.status,
        "legacy": entry.ref.legacy,
    }


def list_command(arguments: argparse.Namespace) -> ExitCode:
    storage = _storage(arguments)
    entries = list_archives(storage)
    now = datetime.now(UTC)
    if arguments.json:
        print(json.dumps([_entry_json(entry, now) for entry in entries], indent=1))
        return ExitCode.OK
    if not entries:
        print(f"no archives in {storage.url}: run `vaultui --headless backup` to make the first one")
        return ExitCode.OK
    print(f"{'ARCHIVE':<26} {'DATE (UTC)':<20} {'AGE':<16} {'SIZE':>10} {'CODEC':<6} STATUS")
    for entry in entries:
        print(
            f"{entry.name:<26} {entry.ref.time:%Y-%m-%d %H:%M:%S}  {humanize.naturaltime(now - entry.ref.time):<16} "
            f"{humanize.naturalsize(entry.size, binary=True):>10} {entry.ref.codec:<6} {entry.status}"
        )
    return ExitCode.OK


def _report_json(report: VerifyReport) -> dict[str, object]:
    return {
        "archive": report.archive,
        "ok": report.ok,
        "status": report.status,
        "checksum_checked": report.checksum_checked,
        "collections": len(report.collections),
        "documents": report.documents,
        "bytes": report.archive_bytes,
        "duration_seconds": report.duration_seconds,
        "problems": report.problems,
    }


def verify(arguments: argparse.Namespace) -> ExitCode:
    storage = _storage(arguments)
    entries = list_archives(storage) if arguments.all else [find_archive(storage, arguments.name)]
    reports = []
    for entry in entries:
        reporter = ProgressReporter()
        try:
            report = verify_archive(storage, entry, progress=reporter)
        finally:
            reporter.close()
        reports.append(report)
        if not arguments.json:
            checked = "checksum and contents" if report.checksum_checked else "structure only (no manifest)"
            verdict = "ok" if report.ok else "FAILED"
            print(
                f"{report.archive}: {verdict} ({report.status}, {checked}; {len(report.collections)} collections, "
                f"{humanize.intcomma(report.documents)} documents)"
            )
            for problem in report.problems:
                print(f"  - {problem}")
    if arguments.json:
        print(json.dumps([_report_json(report) for report in reports], indent=1))
    elif not entries:
        print(f"no archives in {storage.url}")
    return ExitCode.OK if all(report.ok for report in reports) else ExitCode.VERIFICATION_FAILED


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"--date {text!r} is not a date: use YYYY-MM-DD (UTC)") from None


def duration_text(seconds: float) -> str:
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m{rest:02d}s" if minutes else f"{seconds:.1f}s"


def restore(arguments: argparse.Namespace) -> ExitCode:
    storage = _storage(arguments)
    request = RestoreRequest(
        latest=arguments.latest,
        archive=arguments.archive,
        day=_day(arguments.date) if arguments.date else None,
        namespaces=_namespaces(arguments),
        renames=build_renames(arguments.ns_from, arguments.ns_to),
        mode="drop" if arguments.drop else "if-empty" if arguments.if_empty else "guarded",
        dry_run=arguments.dry_run,
        loader=setting(arguments.loader, "loader", "native", str),
        parallel=setting(arguments.parallel, "parallel", 4, int),
        insert_workers=setting(arguments.insert_workers, "insert_workers", 4, int),
        indexes=not arguments.no_indexes,
        wait_ready_seconds=setting(arguments.wait_ready, "wait_ready", 0.0, float),
        rto_seconds=setting(arguments.rto, "rto_seconds", float(DEFAULT_RTO_SECONDS), float),
    )
    uri = read_secret("VAULTUI_TARGET_URI", arguments.target_uri_file, "target MongoDB URI")
    if not uri:
        raise ConfigError("no target MongoDB URI: set VAULTUI_TARGET_URI or pass --target-uri-file")
    reporter = ProgressReporter()
    log_event("restore.started", storage=storage.url, mode=request.mode, loader=request.loader)
    try:
        result = run_restore(storage, uri, request, progress=reporter)
    finally:
        reporter.close()
    for name, reason in result.rejected:
        print(f"vaultui: WARNING: {name} failed verification and was skipped: {reason}", file=sys.stderr)
    if result.status == "dry-run":
        print(f"dry run: would restore {result.archive} (verified) with mode {request.mode}:")
        for item in result.plan:
            now = f"holds {item.target_documents} documents" if item.target_documents else "empty"
            action = (
                "replace"
                if item.target_documents and request.mode == "drop"
                else ("refuse" if item.target_documents else "restore")
            )
            print(f"  {item.source} -> {item.target}: {item.documents} documents ({item.type}; target {now}: {action})")
        return ExitCode.OK
    if result.status == "skipped":
        print(f"restore skipped (--if-empty): {result.reason}")
        log_event("restore.skipped", archive=result.archive, reason=result.reason)
        return ExitCode.OK
    verdict = "met" if result.rto_met else "MISSED"
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
    print(
        f"restored in {duration_text(result.duration_seconds)} "
        f"(RTO target {duration_text(result.rto_seconds)}: {verdict})"
    )
    return ExitCode.OK


COMMANDS: dict[str, Callable[[argparse.Namespace], ExitCode]] = {
    "backup": backup,
    "list": list_command,
    "verify": verify,
    "restore": restore,
}
