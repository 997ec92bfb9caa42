"""`verify`: re-reads archives end to end and records each verdict (text or --json)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import humanize

from engine.archive.catalog import find_archive, list_archives
from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode
from vaultui.output import print_json

if TYPE_CHECKING:  # the heavy engine modules (MongoDB driver, codecs) load inside the commands that use them
    from engine.evidence.verify import VerifyReport


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `verify` (the settings they set are resolved into the context's Settings)."""

    all: bool = False
    json: bool = False
    ledger: bool = False
    name: str | None = None


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


def run(options: Options, context: Context) -> ExitCode:
    from engine.evidence.verify import verify_and_record
    from vaultui.output import ProgressReporter

    storage = context.storage()
    if options.ledger:
        from engine.evidence.ledger import check_ledger

        check = check_ledger(storage)
        if options.json:
            print_json({"intact": check.intact, "checked": check.checked, "problems": check.problems})
        else:
            print(check.summary())
            for problem in check.problems:
                print(f"  - {problem}")
        return ExitCode.OK if check.intact else ExitCode.VERIFICATION_FAILED
    entries = list_archives(storage) if options.all else [find_archive(storage, options.name or "")]
    reports = []
    for entry in entries:
        reporter = ProgressReporter()
        try:
            report = verify_and_record(storage, entry, progress=reporter, keyless=True)
        finally:
            reporter.close()
        reports.append(report)
        if not options.json:
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
    if options.json:
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
