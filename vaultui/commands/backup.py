"""`backup`: one dated archive of the source, verified before it counts, then the metrics."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import humanize

from engine.common.config import source_uri
from engine.common.errors import ConfigError
from engine.run_options import backup_options
from engine.sla.retention import apply_purge
from engine.storage import Storage
from vaultui.commands.context import CommandOptions, Context
from vaultui.commands.purge import purge_line
from vaultui.exit_codes import ExitCode
from vaultui.output import log_event


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `backup` (the settings they set are resolved into the context's Settings)."""

    mongo_uri_file: Path | None = None
    no_read_back: bool = False
    purge: bool = False
    spool_dir: Path | None = None
    system_databases: bool = False


def run(options: Options, context: Context) -> ExitCode:
    storage = context.storage()
    with context.metrics_after(storage):
        return _backup(options, context, storage)


def _backup(options: Options, context: Context, storage: Storage) -> ExitCode:
    from engine.backup.run import run_backup
    from vaultui.output import ProgressReporter

    policy = context.policy() if options.purge else None
    chosen = backup_options(
        context.settings,
        system_databases=options.system_databases,
        spool_dir=options.spool_dir,
        read_back=not options.no_read_back,
    )
    uri = source_uri(options.mongo_uri_file)
    if not uri:
        raise ConfigError("no MongoDB URI for the source: set VAULTUI_MONGO_URI or pass --mongo-uri-file")
    reporter = ProgressReporter()
    log_event("backup.started", storage=storage.url, codec=chosen.codec, dumper=chosen.dumper)
    try:
        result = run_backup(storage, uri, chosen, progress=reporter)
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
        print(purge_line(purged))
    return ExitCode.OK
