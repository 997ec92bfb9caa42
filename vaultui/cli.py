"""Command line entry point: `vaultui --headless COMMAND` runs one engine call, prints, exits with a code.

Long because it is the whole command line in one place: every command's flags with the help `--help` prints,
and the one mapping of flags to settings; what each command does is in vaultui/commands/."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from dataclasses import fields
from pathlib import Path
from typing import Any

from engine.common.config import Settings, put_in_force, settings_help
from engine.common.errors import VaultError
from engine.common.printable import ERROR_HANDLER
from vaultui import __version__
from vaultui.commands import run_command
from vaultui.exit_codes import ExitCode, exit_code_for, message_for

EXIT_CODES = "\n".join(f"  {code.value:>3}  {code.name.lower().replace('_', ' ')}" for code in ExitCode)

DESCRIPTION = """\
Backup, restore and retention for MongoDB on Kubernetes.

Secrets never go on the command line: the MongoDB URI comes from VAULTUI_MONGO_URI or --mongo-uri-file
(restores: VAULTUI_TARGET_URI, drills: VAULTUI_DRILL_URI, else the target), S3 credentials from the standard
AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE) and the S3 endpoint from the storage URL
or AWS_ENDPOINT_URL_S3. Every setting below comes from the flag you type, else its VAULTUI_* variable, else the
settings file (--config or VAULTUI_CONFIG, TOML with the names in lower case), else its default."""

EPILOG = f"""\
settings (variable, default, meaning):
{settings_help()}

storage URLs:
  /backup, file:///backup          a folder (the PVC); it must exist
  s3://bucket/prefix[?endpoint=URL&region=R&path_style=true]

exit codes:
{EXIT_CODES}
"""


def _storage_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--storage", metavar="URL", help="where archives live (env VAULTUI_STORAGE)")
    common.add_argument(
        "--notify-webhook",
        metavar="URL",
        help="post a JSON message (Slack-compatible) when a run fails or is refused, and when it recovers "
        "(env VAULTUI_NOTIFY_WEBHOOK, from a Secret); a webhook that is down never changes the exit code",
    )
    common.add_argument(
        "--age-identity-file",
        type=Path,
        metavar="PATH",
        help="age identity file that opens encrypted archives (env VAULTUI_AGE_IDENTITY_FILE)",
    )
    return common


def _retention_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--max-age-days", type=int, metavar="N", help="delete archives older than N days (90)")
    options.add_argument(
        "--keep-last", type=int, metavar="N", help="always keep the N newest good archives (default 3, at least 1)"
    )
    return options


def _sla_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--schedule", metavar="CRON", help="when backups are expected (default '0 0 * * *')")
    options.add_argument("--timezone", metavar="ZONE", help="time zone of the schedule (default UTC)")
    options.add_argument("--window-days", type=int, metavar="N", help="compliance window (default 30)")
    options.add_argument("--target-percent", type=float, metavar="P", help="compliance target (default 99)")
    options.add_argument("--rto", type=float, metavar="SECONDS", help="recovery-time objective (default 600)")
    options.add_argument(
        "--rpo",
        type=float,
        metavar="SECONDS",
        help="recovery-point threshold: status fails when more would be lost (default 300 once the oplog is "
        "captured, none before)",
    )
    return options


def _metrics_options() -> argparse.ArgumentParser:
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument("--metrics-file", type=Path, metavar="PATH", help="write Prometheus metrics there")
    options.add_argument("--pushgateway", metavar="URL", help="push Prometheus metrics to this Pushgateway")
    options.add_argument(
        "--deployment", metavar="NAME", help="this deployment's label in metrics (default: the storage's last part)"
    )
    options.add_argument(
        "--deployment-namespace",
        dest="deployment_namespace",
        metavar="NS",
        help="the namespace label in metrics (default: the pod's own namespace)",
    )
    options.add_argument(
        "--backup-grace",
        type=float,
        metavar="SECONDS",
        help="how late after its slot a backup may succeed before alerts call it missed (default 3600)",
    )
    return options


def _namespace_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--db", action="append", metavar="NAME", help="only this database (repeatable)")
    parser.add_argument("--ns-include", action="append", metavar="PATTERN", help="only namespaces like 'sales.*'")
    parser.add_argument("--ns-exclude", action="append", metavar="PATTERN", help="skip namespaces like '*.tmp_*'")


def _fleet_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--fleet",
        dest="fleet_file",
        nargs="?",
        const="",
        metavar="FILE",
        help="every deployment of a fleet file instead of one storage (FILE, else VAULTUI_FLEET)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vaultui", description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"vaultui {__version__}")
    parser.add_argument("--config", type=Path, metavar="FILE", help="settings file (TOML; env VAULTUI_CONFIG)")
    parser.add_argument("--headless", action="store_true", help="run one command and exit (what CronJobs use)")
    dashboard = parser.add_argument_group("dashboard (without --headless)")
    dashboard.add_argument("--storage", dest="dashboard_storage", metavar="URL", help="where archives live")
    dashboard.add_argument(
        "--fleet", metavar="FILE", help="a fleet file (TOML, env VAULTUI_FLEET): every deployment, worst first"
    )
    dashboard.add_argument(
        "--command", dest="view", metavar="VIEW", help="open straight into archives|runs|compliance|purge"
    )
    dashboard.add_argument("--refresh", type=float, metavar="SECONDS", help="reload interval (default 30)")
    dashboard.add_argument(
        "--age-identity-file", dest="dashboard_identity", type=Path, metavar="PATH", help="opens encrypted archives"
    )
    dashboard.add_argument("--readonly", action="store_true", help="hide restore, purge and hold actions")
    dashboard.add_argument("--context", metavar="NAME", help="Kubernetes context (default: the current one)")
    dashboard.add_argument("--namespace", metavar="NS", help="Kubernetes namespace of the MongoDB pods")
    dashboard.add_argument("--theme", metavar="NAME", help="Textual theme, e.g. textual-dark, textual-light")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", prog="vaultui --headless")
    common = _storage_options()
    retention, sla, metrics = _retention_options(), _sla_options(), _metrics_options()

    backup = commands.add_parser(
        "backup",
        parents=[common, retention, sla, metrics],
        help="dump MongoDB into a new dated archive",
        description="Dump MongoDB into a new archive named by its UTC start time, then write its manifest "
        "and a ledger record. On failure nothing that looks complete is left.",
    )
    backup.add_argument("--mongo-uri-file", type=Path, metavar="PATH", help="file holding the source URI")
    backup.add_argument("--codec", choices=None, metavar="gzip|zstd", help="archive compression (default zstd)")
    backup.add_argument(
        "--age-recipient",
        dest="age_recipients",
        action="append",
        metavar="AGE1…",
        help="encrypt the archive to this age public key (repeatable; env VAULTUI_AGE_RECIPIENTS): it becomes "
        "<stamp>.tar.zst.age, opened by `age -d -i KEY | tar --zstd -x`",
    )
    backup.add_argument("--dumper", metavar="native|mongodump", help="native pymongo dumper or the real mongodump")
    backup.add_argument("--parallel", type=int, metavar="N", help="collections dumped at once (default 4)")
    backup.add_argument("--spool-dir", type=Path, metavar="PATH", help="scratch folder (default: system temp)")
    backup.add_argument("--connect-timeout", type=float, metavar="SECONDS", help="wait for MongoDB (default 10)")
    backup.add_argument("--purge", action="store_true", help="apply retention after a successful backup")
    backup.add_argument(
        "--no-read-back",
        action="store_true",
        help="skip re-reading the stored archive before committing it (faster; a backup reported good may then "
        "not restore; the manifest records that the check was skipped)",
    )
    backup.add_argument("--system-databases", action="store_true", help="include admin, config and local")
    _namespace_options(backup)

    restore = commands.add_parser(
        "restore",
        parents=[common, sla],
        help="restore an archive into a MongoDB target, verified and guarded",
        description="Restore an archive into the target (VAULTUI_TARGET_URI or --target-uri-file). The native "
        "loader reads the archive once, checking it while it loads into staging collections, and renames them "
        "over the targets only when the whole archive has verified: a corrupt archive, a kill or a lost "
        "connection leaves the target as it was. A target that already holds data in the restored collections "
        "is refused unless --drop or --if-empty says otherwise. An if-empty restore that finds a restore cut "
        "short while replacing collections redoes it.",
    )
    which = restore.add_mutually_exclusive_group()
    which.add_argument("--latest", action="store_true", help="the newest archive that verifies (falls back)")
    which.add_argument("--archive", metavar="NAME", help="this archive")
    which.add_argument("--date", metavar="YYYY-MM-DD", help="the newest archive of that UTC day")
    which.add_argument(
        "--to-time",
        metavar="TIME",
        help="a point in time (2026-11-25T14:32:05Z, or an oplog timestamp T:I): the newest base archive "
        "before it, then the captured oplog replayed up to it",
    )
    restore.add_argument(
        "--across-restores",
        action="store_true",
        help="with --to-time: go on although restores ran within the replayed stretch (their own writes are not "
        "replayed; without this flag such a restore is refused, naming them)",
    )
    guard = restore.add_mutually_exclusive_group()
    guard.add_argument("--drop", action="store_true", help="replace the collections being restored")
    guard.add_argument("--if-empty", action="store_true", help="do nothing (exit 0) when the target holds data")
    restore.add_argument("--target-uri-file", type=Path, metavar="PATH", help="file holding the target URI")
    restore.add_argument("--target-host", metavar="HOST:PORT", help="aim the target URI at this one server")
    restore.add_argument("--pod", metavar="NAME", help="restore into this pod through a Kubernetes Job")
    restore.add_argument("--namespace", dest="kube_namespace", metavar="NS", help="the pod's namespace")
    restore.add_argument("--context", dest="kube_context", metavar="NAME", help="kubeconfig context")
    restore.add_argument(
        "--cronjob",
        default="vaultui-backup",
        metavar="NAME",
        help="the backup CronJob whose pod template restore Jobs copy (default vaultui-backup)",
    )
    restore.add_argument("--wait-ready", type=float, metavar="SECONDS", help="wait for the target to come up")
    restore.add_argument("--ns-from", action="append", metavar="PATTERN", help="rename from, e.g. 'sales.*'")
    restore.add_argument("--ns-to", action="append", metavar="PATTERN", help="rename to, e.g. 'sales_copy.*'")
    restore.add_argument("--dry-run", action="store_true", help="verify and show what would be restored")
    restore.add_argument("--loader", metavar="native|mongorestore", help="native loader or the real mongorestore")
    restore.add_argument(
        "--two-pass",
        action="store_true",
        help="verify the whole archive first, then load straight into the targets (for servers that cannot "
        "rename collections; a failure during the load leaves them partial, flagged for the next restore)",
    )
    restore.add_argument("--parallel", type=int, metavar="N", help="collections indexed at once (default 4)")
    restore.add_argument("--insert-workers", type=int, metavar="N", help="parallel insert workers (default 4)")
    restore.add_argument("--no-indexes", action="store_true", help="restore data only, build no indexes")
    restore.add_argument(
        "--keep-index-specs",
        action="store_true",
        help="send archived index specs untouched (default: normalise legacy specs as mongorestore "
        "--convertLegacyIndexes does, one line per change)",
    )
    restore.add_argument("--connect-timeout", type=float, metavar="SECONDS", help=argparse.SUPPRESS)
    restore.add_argument(
        "--request-env",
        action="store_true",
        help="read the whole request (JSON) from VAULTUI_RESTORE_REQUEST: what restore Jobs in the cluster run",
    )
    _namespace_options(restore)

    purge = commands.add_parser(
        "purge",
        parents=[common, retention, sla, metrics],
        help="apply the retention policy (preview with --dry-run)",
        description="Delete archives past the age limit. Never deletes a held archive or the newest verified one.",
    )
    purge.add_argument("--dry-run", action="store_true", help="print the plan: every archive, its fate, why")
    purge.add_argument("--json", action="store_true", help="machine-readable output")

    hold = commands.add_parser("hold", parents=[common], help="keep an archive from any purge")
    hold.add_argument("name", help="archive name")
    hold.add_argument("--reason", required=True, help="why, e.g. 'incident 2026-11-02'")
    unhold = commands.add_parser("unhold", parents=[common], help="release a hold (its archive may be gone)")
    unhold.add_argument("name", help="archive name")
    holds = commands.add_parser("holds", parents=[common], help="every hold, orphaned ones (archive gone) marked")
    holds.add_argument("--json", action="store_true", help="machine-readable output")

    status = commands.add_parser(
        "status",
        parents=[common, retention, sla, metrics],
        help="compliance, archives, recovery figures",
        description="Exits with 'compliance below target' when the window's compliance is under target or the "
        "newest success is older than the schedule allows: usable as an alert or a probe.",
    )
    status.add_argument("--json", action="store_true", help="machine-readable output")

    _fleet_option(status)

    drill = commands.add_parser(
        "drill",
        parents=[common, sla, metrics],
        help="restore into scratch databases, check, drop, record",
        description="Restore the latest good archive (or --archive) into scratch databases on the drill target "
        "(VAULTUI_DRILL_URI, else VAULTUI_TARGET_URI), compare every document with the archive, drop the "
        "scratch databases and record the duration against the RTO.",
    )
    drill.add_argument("--archive", metavar="NAME", help="drill this archive instead of the latest good one")
    drill.add_argument("--target-uri-file", type=Path, metavar="PATH", help="file holding the drill target URI")

    report = commands.add_parser("report", parents=[common, retention, sla], help="monthly SLA report")
    report.add_argument("--month", required=True, metavar="YYYY-MM", help="the month to report on")
    report.add_argument("--format", default="md", metavar="md|html|json", help="output format (default md)")
    report.add_argument("--output", type=Path, metavar="PATH", help="write there instead of stdout")

    _fleet_option(report)

    fleet = commands.add_parser(
        "fleet",
        help="fleet file helpers: `fleet discover` finds vaultui installs in clusters",
        description="discover: list vaultui's backup CronJobs (label app.kubernetes.io/name=vaultui) in every "
        "namespace the identity may list, and print them as fleet entries to review (or add them to a fleet "
        "file with --write). Secrets are named as variables to set, never copied.",
    )
    fleet.add_argument("fleet_action", choices=["discover"], metavar="discover")
    fleet.add_argument(
        "--context", action="append", metavar="NAME", help="kubeconfig context to search (repeatable; default current)"
    )
    fleet.add_argument("--write", type=Path, metavar="FILE", help="add the entries the file does not have yet")

    listing = commands.add_parser("list", parents=[common], help="archives, newest first")
    listing.add_argument("--json", action="store_true", help="machine-readable output")

    verify = commands.add_parser(
        "verify",
        parents=[common],
        help="re-read archives and check them against their manifests",
    )
    target = verify.add_mutually_exclusive_group(required=True)
    target.add_argument("name", nargs="?", help="archive name, as `list` shows it")
    target.add_argument("--all", action="store_true", help="every archive")
    target.add_argument(
        "--ledger",
        action="store_true",
        help="the run ledger instead: every record's link to the one before and, with VAULTUI_LEDGER_KEY, its "
        "signature",
    )
    verify.add_argument("--json", action="store_true", help="machine-readable output")

    oplog = commands.add_parser(
        "oplog",
        parents=[common, _metrics_options()],
        help="capture the oplog into the storage, continuously (a long-lived process beside a replica set)",
        description="Tails local.oplog.rs of VAULTUI_MONGO_URI (a replica set) and writes chunks under oplog/ in "
        "the storage, each committed by its manifest; resumes after the last committed chunk, and records a "
        "gap when the oplog has rolled past it. restore --to-time replays them. Rides out a server that goes "
        "away for up to 5 minutes; stops cleanly on SIGTERM after committing what it holds. Writes a ledger "
        "record (kind oplog) per UTC day and when it stops, and its lag and counts to the metrics after each "
        f"chunk. Pointed at a standalone server (no oplog) it exits {int(ExitCode.NO_OPLOG)}.",
    )
    oplog.add_argument("--mongo-uri-file", type=Path, metavar="PATH", help="file holding the source URI")
    oplog.add_argument("--flush-seconds", type=float, default=60.0, metavar="S", help="chunk every S seconds")
    oplog.add_argument("--flush-mib", type=float, default=64.0, metavar="M", help="or every M MiB of entries")
    oplog.add_argument("--once", action="store_true", help="capture what is there, then stop")

    unlock = commands.add_parser(
        "unlock",
        parents=[common],
        help="show the storage leases and remove the expired ones (of runs that died)",
        description="Backups and purges lease the storage exclusively; restores and verifies take shared "
        "leases naming the archives they read, which purges respect. A run that dies leaves its lease until it "
        "expires (10 minutes without renewal). This shows every lease and removes the expired ones.",
    )
    unlock.add_argument(
        "--all", action="store_true", help="remove live leases too (only when you know those runs are dead)"
    )
    return parser


def run_dashboard(arguments: argparse.Namespace) -> int:
    from vaultui.dashboard import open_dashboard  # Textual loads only when the dashboard is wanted

    try:
        return open_dashboard(arguments)
    except VaultError as error:
        print(f"vaultui: {error}", file=sys.stderr)
        return int(exit_code_for(error))


# Flags whose destination differs from the setting they set; every other setting's flag has its name.
_FLAG_DESTINATIONS = {
    "rto_seconds": "rto",
    "rpo_seconds": "rpo",
    "storage": ("storage", "dashboard_storage"),
    "age_identity_file": ("age_identity_file", "dashboard_identity"),
}


def typed_flags(arguments: argparse.Namespace) -> dict[str, Any]:
    """The settings the user typed as flags (None where a flag was not given, or does not exist here)."""
    typed: dict[str, Any] = {}
    for item in fields(Settings):
        destinations = _FLAG_DESTINATIONS.get(item.name, item.name)
        for destination in (destinations,) if isinstance(destinations, str) else destinations:
            value = getattr(arguments, destination, None)
            if value is not None:
                typed[item.name] = tuple(value) if isinstance(value, list) else value
                if isinstance(value, Path):
                    typed[item.name] = str(value)
    return typed


class Terminated(KeyboardInterrupt):
    """SIGTERM, as Kubernetes sends it to a pod being stopped: unwinds like ctrl-c, so writes are aborted (no
    partial archive looks complete) and the run is recorded as interrupted."""


def _terminate(signum: int, frame: object) -> None:
    raise Terminated


def _printable_streams() -> None:
    """Whatever a name holds (bytes that are not UTF-8, terminal escapes), output never fails on it: what a
    stream cannot encode is written escaped (engine.common.printable)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):  # replaced streams (tests) may not reconfigure
            stream.reconfigure(errors=ERROR_HANDLER)  # type: ignore[union-attr]


def _quiet_broken_pipe() -> int:
    """`vaultui … | head`: the reader left. Exit as a shell tool killed by SIGPIPE would, with nothing more
    said (Python would print the error again when it flushes stdout at exit)."""
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return ExitCode.BROKEN_PIPE


def main(argv: list[str] | None = None) -> int:
    _printable_streams()
    try:
        return _main(argv)
    except BrokenPipeError:
        return _quiet_broken_pipe()
    finally:
        _leave_closed_monitors()


def _leave_closed_monitors() -> None:
    """At exit pymongo joins the monitor threads of every client, closed ones too; a closed client's thread
    only notices at the end of its 0.5 s sleep, so every command that used MongoDB waited out about 0.35 s
    after its work (measured: a restore's process outlived its last line by that much). Once every client is
    closed there is nothing left to stop: the join is skipped and the daemon threads end with the process."""
    executors = sys.modules.get("pymongo.periodic_executor")
    monitor = sys.modules.get("pymongo.synchronous.monitor")
    shutdown = getattr(monitor, "_shutdown_resources", None)
    if executors is None or shutdown is None:
        return
    try:
        running = [ref() for ref in list(executors._EXECUTORS)]
        if all(executor is None or executor._stopped for executor in running):
            import atexit

            atexit.unregister(shutdown)
    except (AttributeError, TypeError):
        return  # another pymongo's internals: its own clean-up stays


def _main(argv: list[str] | None) -> int:
    parser = build_parser()
    arguments = parser.parse_args(argv)
    if not arguments.headless and arguments.command:
        parser.error("commands run with --headless (the dashboard opens without one)")
    if arguments.headless and not arguments.command:
        parser.error("--headless needs a COMMAND")
    try:
        arguments.settings = Settings.resolve(typed_flags(arguments), file=arguments.config)
        put_in_force(arguments.settings)
        if not arguments.headless:
            return run_dashboard(arguments)
        signal.signal(signal.SIGTERM, _terminate)
        return int(run_command(arguments.command, arguments))
    except BrokenPipeError:
        raise
    except VaultError as error:
        print(f"vaultui: {message_for(error)}", file=sys.stderr)
        return int(exit_code_for(error))
    except KeyboardInterrupt as stop:
        terminated = isinstance(stop, Terminated)
        print(f"vaultui: {'terminated (SIGTERM)' if terminated else 'interrupted'}", file=sys.stderr)
        return ExitCode.TERMINATED if terminated else ExitCode.INTERRUPTED
    except Exception as error:  # the last resort: a bug is one line and a file, never a bare traceback
        print(f"vaultui: internal error: {type(error).__name__}: {error}; {_save_traceback()}", file=sys.stderr)
        return ExitCode.INTERNAL


def _save_traceback() -> str:
    import tempfile
    import traceback

    try:
        with tempfile.NamedTemporaryFile("w", prefix="vaultui-traceback-", suffix=".txt", delete=False) as file:
            traceback.print_exc(file=file)
        return f"the traceback is in {file.name}; please report it"
    except OSError:
        return "the traceback could not be saved"


if __name__ == "__main__":
    sys.exit(main())
