"""Purge, holds, backup --purge, drills, status, metrics and the SLA report, through the real CLI and bed."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo
import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.archive.catalog import list_archives
from engine.archive.holds import Hold
from engine.evidence.ledger import list_runs, record_run
from engine.evidence.verify import CollectionFound, add_to_digest
from engine.restore.drill import compare_collection, scratch_names
from engine.sla.compliance import Schedule
from engine.sla.report import build_report, render
from engine.sla.retention import RetentionPolicy
from engine.storage import open_storage
from tests.bed.servers import free_port
from tests.helpers import run_vaultui, seed
from tests.history import NOW, nightly_runs, record
from vaultui.exit_codes import ExitCode

GOLDEN = Path(__file__).parent / "data" / "report-2026-11.md"


def fake_archive(folder: Path, moment: datetime, manifest: bool = True) -> str:
    """An archive object as far as listing, retention and holds care (content is never read by them)."""
    name = moment.strftime("%Y%m%dT%H%M%SZ") + ".tar.zst"
    (folder / name).write_bytes(b"x" * 100)
    if manifest:
        (folder / f"{name}.manifest.json").write_text("{}")
    return name


def test_purge_preview_then_apply_respects_holds(backups: Path) -> None:
    now = datetime.now(UTC)
    old = [fake_archive(backups, now - timedelta(days=days)) for days in (120, 100, 95)]
    recent = fake_archive(backups, now - timedelta(days=3))
    env = {"VAULTUI_STORAGE": str(backups), "VAULTUI_KEEP_LAST": "1"}  # the age limit alone
    held = run_vaultui("--headless", "hold", old[1], "--reason", "incident 2026-08-17", env=env)
    assert held.returncode == 0 and "held" in held.stdout

    preview = run_vaultui("--headless", "purge", "--dry-run", env=env)
    assert preview.returncode == 0
    assert "2 to delete, 2 to keep" in preview.stdout
    assert f"keep   {old[1]}" in preview.stdout and "held (incident 2026-08-17)" in preview.stdout
    assert f"delete {old[0]}" in preview.stdout and "older than the 90-day limit" in preview.stdout
    assert f"keep   {recent}" in preview.stdout and "newest complete (manifest, not re-verified)" in preview.stdout
    assert (backups / old[0]).exists(), "a dry run deletes nothing"

    applied = run_vaultui("--headless", "purge", env=env)
    assert applied.returncode == 0 and "purged 2 archives" in applied.stdout
    assert sorted(path.name for path in backups.glob("*.tar.zst")) == sorted([old[1], recent])
    assert not (backups / f"{old[0]}.manifest.json").exists()
    [run] = list_runs(open_storage(str(backups)), "purge")
    assert sorted(run.details["deleted"]) == sorted([old[0], old[2]])

    assert run_vaultui("--headless", "unhold", old[1], env=env).returncode == 0
    assert "delete" in run_vaultui("--headless", "purge", "--dry-run", env=env).stdout.split(old[1])[0][-8:]


def test_hold_errors(backups: Path) -> None:
    env = {"VAULTUI_STORAGE": str(backups)}
    missing = run_vaultui("--headless", "hold", "20261101T000000Z.tar.zst", "--reason", "x", env=env)
    assert missing.returncode == ExitCode.STORAGE and "not found" in missing.stderr
    name = fake_archive(backups, datetime.now(UTC))
    empty = run_vaultui("--headless", "hold", name, "--reason", " ", env=env)
    assert empty.returncode == ExitCode.CONFIG and "a hold needs a reason" in empty.stderr
    not_held = run_vaultui("--headless", "unhold", name, env=env)
    assert not_held.returncode == ExitCode.CONFIG and "is not held" in not_held.stderr


def test_backup_purge_runs_only_after_a_successful_backup(
    backups: Path, mongo_client: pymongo.MongoClient, mongo_uri: str, database_name: str
) -> None:
    now = datetime.now(UTC)
    old = [fake_archive(backups, now - timedelta(days=days)) for days in (130, 110, 100)]
    down = {"VAULTUI_STORAGE": str(backups), "VAULTUI_MONGO_URI": f"mongodb://127.0.0.1:{free_port()}/"}
    failed = run_vaultui("--headless", "backup", "--purge", "--connect-timeout", "1", env=down)
    assert failed.returncode == ExitCode.SOURCE_UNREACHABLE
    assert all((backups / name).exists() for name in old), "a failing backup must never purge"

    seed(mongo_client, database_name, {"c": 10})
    up = {"VAULTUI_STORAGE": str(backups), "VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_KEEP_LAST": "1"}
    done = run_vaultui("--headless", "backup", "--purge", "--db", database_name, env=up)
    assert done.returncode == 0, done.stderr
    assert "purged 3 archives" in done.stdout
    assert not any((backups / name).exists() for name in old)


def test_drill_restores_checks_and_cleans_up(
    backups: Path, mongo_client: pymongo.MongoClient, mongo_uri: str, database_name: str
) -> None:
    seed(mongo_client, database_name, {"orders": 800, "users": 20})
    env = {"VAULTUI_STORAGE": str(backups), "VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_DRILL_URI": mongo_uri}
    assert run_vaultui("--headless", "backup", "--db", database_name, env=env).returncode == 0
    done = run_vaultui("--headless", "drill", env=env)
    assert done.returncode == 0, done.stderr
    assert "2 namespaces, 820 documents restored and checked" in done.stdout
    assert "(RTO target 10m00s: met)" in done.stdout
    assert not [name for name in mongo_client.list_database_names() if name.startswith("vaultui_drill_")]
    [run] = list_runs(open_storage(str(backups)), "drill")
    assert run.result == "success" and run.details["rto_met"] and run.documents == 820


def test_drill_comparison_catches_a_changed_document(mongo_client: pymongo.MongoClient, database_name: str) -> None:
    import bson

    documents = [{"_id": index, "value": index} for index in range(5)]
    expected = CollectionFound(documents=5)
    for document in documents:
        expected.unordered_digest = add_to_digest(expected.unordered_digest, bson.encode(document))
    collection = mongo_client[database_name]["c"]
    collection.insert_many(list(reversed(documents)))
    assert compare_collection(mongo_client, f"{database_name}.c", expected) is None  # order does not matter
    collection.update_one({"_id": 3}, {"$set": {"value": 33}})
    assert "differ from the archive" in (compare_collection(mongo_client, f"{database_name}.c", expected) or "")
    assert scratch_names(["a", "b"]) == {"a": "vaultui_drill_a", "b": "vaultui_drill_b"}


def test_status_exit_code_and_metrics_file(backups: Path, tmp_path: Path) -> None:
    storage = open_storage(str(backups))
    now = datetime.now(UTC).replace(microsecond=0)
    for days in range(1, 6):  # each backup's archive is there and was read back: evidence, not a claim
        record_run(storage, record("backup", now - timedelta(days=days), "success", seconds=42, read_back=True))
        fake_archive(backups, now - timedelta(days=days))
    drill = record("drill", now - timedelta(hours=3), "success", seconds=75, rto_seconds=600)
    drill.bytes = 50  # half the size of the archives: the forecast for the newest is twice the drill's time
    record_run(storage, drill)
    metrics = tmp_path / "vaultui.prom"
    env = {"VAULTUI_STORAGE": str(backups)}

    healthy = run_vaultui(
        "--headless", "status", "--json", "--window-days", "5", "--metrics-file", str(metrics), env=env
    )
    assert healthy.returncode == 0, healthy.stdout + healthy.stderr
    state = json.loads(healthy.stdout)
    assert state["compliance_percent"] == 100.0 and state["last_drill"]["duration_seconds"] == 75
    assert state["forecast"]["expected_seconds"] == 150 and state["forecast"]["samples"] == 1

    families = {family.name: family for family in text_string_to_metric_families(metrics.read_text())}
    assert families["vaultui_compliance_ratio"].samples[0].value == 1.0
    assert families["vaultui_archives"].samples[0].value == 5
    assert families["vaultui_restore_forecast_seconds"].samples[0].value == 150
    runs = {
        (sample.labels["kind"], sample.labels["result"]): sample.value
        for sample in families["vaultui_recent_runs"].samples
    }
    assert runs == {("backup", "success"): 5, ("drill", "success"): 1}
    durations = {
        sample.labels["kind"]: sample.value for sample in families["vaultui_last_run_duration_seconds"].samples
    }
    assert durations == {"backup": 42, "drill": 75}
    assert families["vaultui_last_success_timestamp_seconds"].samples[0].value == (now - timedelta(days=1)).timestamp()

    below = run_vaultui("--headless", "status", "--window-days", "10", env=env)
    assert below.returncode == ExitCode.COMPLIANCE_BELOW_TARGET
    assert "BELOW TARGET" in below.stdout and "no backup ran" in below.stdout
    assert f"last success {now - timedelta(days=1):%Y-%m-%d %H:%M} UTC (a day ago)" in below.stdout
    forecast = (
        "forecast     restoring the newest archive (100 Bytes) should take about 2m30s (from 1 measured restore or"
    )
    assert forecast in below.stdout


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (["status", "--schedule", "every night"], "invalid cron expression 'every night'"),
        (["status", "--max-age-days", "-3"], "at least 1 day, not -3"),
        (["purge", "--keep-last", "0"], "keep-last must be 1 or more, not 0 [--keep-last]"),
        (["status", "--window-days", "0"], "at least 1 day, not 0"),
        (["report", "--month", "November"], "'November' is not a month: use YYYY-MM [--month]"),
        (["report", "--month", "2026-11", "--format", "pdf"], "unknown report format 'pdf'"),
    ],
)
def test_bad_sla_input(arguments: list[str], expected: str, backups: Path) -> None:
    done = run_vaultui("--headless", *arguments, env={"VAULTUI_STORAGE": str(backups)})
    assert done.returncode == ExitCode.CONFIG, done.stderr
    assert expected in done.stderr and "Traceback" not in done.stderr


def fixed_history(folder: Path) -> None:
    storage = open_storage(str(folder))
    for run in nightly_runs():
        record_run(storage, run)
        if run.succeeded and run.archive and run.started >= NOW - timedelta(days=100):
            (folder / run.archive).write_bytes(b"x" * (1000 + run.started.day))
            (folder / f"{run.archive}.manifest.json").write_text("{}")
    drill = record("drill", datetime(2026, 11, 8, 3, tzinfo=UTC), "success", seconds=312.5, rto_seconds=600)
    restore = record("restore", datetime(2026, 11, 19, 9, tzinfo=UTC), "success", seconds=671, rto_seconds=600)
    drill.bytes, restore.bytes = 1008, 1019  # the archives they read (what the RTO forecast is fitted on)
    record_run(storage, drill)
    record_run(storage, restore)
    # Retention on record: two archives destroyed 2 and 3 days past their 90-day limit (late: the grace is a
    # day), one deleted early by hand through a purge with a shorter limit, and archives left past their limit
    # by the month's end with nothing keeping them: the report judges each from these facts.
    purged = ["20260801T000500Z.tar.zst", "20260802T000500Z.tar.zst", "20261015T120000Z.tar.zst"]
    record_run(storage, record("purge", datetime(2026, 11, 2, 0, 10, tzinfo=UTC), "success", deleted=purged))
    (folder / "20260820T000500Z.tar.zst.hold.json").write_text(
        json.dumps({"archive": "20260820T000500Z.tar.zst", "reason": "audit 2026-Q3", "held_at": ""})
    )


def test_report_matches_the_golden_file(backups: Path) -> None:
    fixed_history(backups)
    report = build_report(open_storage(str(backups)), "2026-11", schedule=Schedule(), policy=RetentionPolicy(), now=NOW)
    text = render(report, "md").replace(str(backups), "<storage>")
    assert text == GOLDEN.read_text()
    html = render(report, "html")
    assert "<h2>Missed slots</h2>" in html and "2026-11-05T00:00:00+00:00" in html
    data = json.loads(render(report, "json"))
    assert (data["compliance"]["expected"], data["compliance"]["met"]) == (25, 21)


def test_metrics_are_pushed_to_a_pushgateway(backups: Path) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    received: list[tuple[str, str, bytes]] = []

    class Gateway(BaseHTTPRequestHandler):
        def do_PUT(self) -> None:  # noqa: N802 - the http.server naming
            received.append(("PUT", self.path, self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *arguments: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", free_port()), Gateway)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        storage = open_storage(str(backups))
        record_run(storage, record("backup", datetime.now(UTC) - timedelta(hours=2), "success"))
        done = run_vaultui(
            "--headless",
            "status",
            "--window-days",
            "1",
            "--pushgateway",
            f"http://127.0.0.1:{server.server_port}",
            env={"VAULTUI_STORAGE": str(backups)},
        )
    finally:
        server.shutdown()
    assert done.returncode in (0, ExitCode.COMPLIANCE_BELOW_TARGET), done.stderr
    [(method, path, body)] = received
    # One group per deployment (its name defaults to the storage folder's), so deployments never overwrite
    # each other's series; an empty namespace travels base64-encoded, as the Pushgateway's API spells it.
    assert path == f"/metrics/job/vaultui/deployment/{backups.name}/namespace@base64/="
    families = {family.name for family in text_string_to_metric_families(body.decode())}
    assert {"vaultui_compliance_ratio", "vaultui_recent_runs", "vaultui_last_success_timestamp_seconds"} <= families


def test_a_symlinked_archive_is_reported_and_skipped_never_a_stall(backups: Path, tmp_path: Path) -> None:
    """A link pointing out of the folder: verify --all goes on past it, purge deletes every other candidate."""
    now = datetime.now(UTC)
    old = [fake_archive(backups, now - timedelta(days=days)) for days in (120, 110)]
    fake_archive(backups, now - timedelta(days=2))
    outside = tmp_path / "elsewhere.tar.zst"
    outside.write_bytes(b"x" * 10)
    linked = (now - timedelta(days=130)).strftime("%Y%m%dT%H%M%SZ") + ".tar.zst"
    (backups / linked).symlink_to(outside)
    env = {"VAULTUI_STORAGE": str(backups)}
    checked = run_vaultui("--headless", "verify", "--all", env=env)
    assert checked.returncode == ExitCode.VERIFICATION_FAILED and "Traceback" not in checked.stderr
    assert f"{linked}: UNREADABLE (skipped)" in checked.stdout and "cannot be read from the storage" in checked.stdout
    assert sum(checked.stdout.count(verdict) for verdict in (": FAILED", ": ok", ": UNREADABLE")) == 4  # all read
    assert "4 archives: 0 ok, 3 failed, 1 unreadable" in checked.stdout  # the closing summary
    purged = run_vaultui("--headless", "purge", env=env)
    assert purged.returncode == ExitCode.STORAGE, purged.stderr
    assert f"could not delete {linked}, skipped it" in purged.stderr
    assert all(not (backups / name).exists() for name in old) and outside.exists()


def test_metrics_follow_prometheus_conventions_and_never_say_100_percent_for_no_data(
    backups: Path, tmp_path: Path
) -> None:
    """Counters only go up (none is rebuilt from a sample), units are in names, and a window with no slot
    expected yet is NaN ("no data"), not 100 %."""
    metrics = tmp_path / "vaultui.prom"
    done = run_vaultui(
        "--headless",
        "status",
        "--metrics-file",
        str(metrics),
        "--schedule",
        "0 0 1 1 *",
        env={"VAULTUI_STORAGE": str(backups)},
    )
    assert "Traceback" not in done.stderr
    families = {family.name: family for family in text_string_to_metric_families(metrics.read_text())}
    assert all(family.type == "gauge" for family in families.values())  # nothing here is a real counter
    assert math.isnan(families["vaultui_compliance_ratio"].samples[0].value)
    for name in families:
        assert name.startswith("vaultui_") and name == name.lower()
    seconds = [name for name in families if "duration" in name or "timestamp" in name or name == "vaultui_rto_seconds"]
    assert all(name.endswith("_seconds") for name in seconds)


def test_orphaned_holds_are_listed_and_released(backups: Path) -> None:
    now = datetime.now(UTC)
    kept = fake_archive(backups, now - timedelta(days=2))
    gone = fake_archive(backups, now - timedelta(days=3))
    env = {"VAULTUI_STORAGE": str(backups)}
    for name in (kept, gone):
        assert run_vaultui("--headless", "hold", name, "--reason", "incident", env=env).returncode == 0
    (backups / gone).unlink()  # deleted by hand: its hold now protects nothing
    (backups / f"{gone}.manifest.json").unlink()
    listed = run_vaultui("--headless", "holds", "--json", env=env)
    states = {item["archive"]: item["orphaned"] for item in json.loads(listed.stdout)}
    assert states == {kept: False, gone: True}
    released = run_vaultui("--headless", "unhold", gone, env=env)
    assert released.returncode == 0, released.stderr
    assert not (backups / f"{gone}.hold.json").exists() and (backups / f"{kept}.hold.json").exists()


def test_status_warns_of_clock_skew(backups: Path) -> None:
    now = datetime.now(UTC)
    ahead = fake_archive(backups, now + timedelta(days=3))  # a writer whose clock ran ahead
    behind = fake_archive(backups, now - timedelta(days=40))  # named 40 days ago, written just now
    fake_archive(backups, now - timedelta(minutes=5))
    done = run_vaultui("--headless", "status", env={"VAULTUI_STORAGE": str(backups)})
    assert "clock skew   2 archives" in done.stdout
    assert f"{ahead}: named" in done.stdout and "in the future" in done.stdout
    assert f"{behind}: named" in done.stdout and "but stored at" in done.stdout


def test_retention_adherence_is_judged_per_archive_from_the_month_s_own_facts(tmp_path: Path) -> None:
    """November, read on 2 December: an archive destroyed at 100 days is 10 days late (not "on schedule"),
    one left past its limit until a purge in December was overdue at November's end (today's state, where it
    is gone, must not hide that), one deleted at 90.5 days is on time, one deleted at 40 days early, a held one
    is kept with its reason. December's report then counts the December deletion as late."""
    from engine.sla.retention_audit import Verdict, judge_month

    def made(day: datetime) -> str:
        return day.strftime("%Y%m%dT%H%M%SZ") + ".tar.zst"

    late, overdue, on_time, early, held = (
        made(datetime(2026, 8, 1, tzinfo=UTC)),
        made(datetime(2026, 8, 20, tzinfo=UTC)),
        made(datetime(2026, 8, 10, tzinfo=UTC)),
        made(datetime(2026, 10, 1, tzinfo=UTC)),
        made(datetime(2026, 8, 5, tzinfo=UTC)),
    )
    runs = [
        record("purge", datetime(2026, 11, 9, 6, tzinfo=UTC), "success", deleted=[late]),
        record("purge", datetime(2026, 11, 8, 12, tzinfo=UTC), "success", deleted=[on_time]),
        record("purge", datetime(2026, 11, 10, 6, tzinfo=UTC), "success", deleted=[early]),
        record("purge", datetime(2026, 12, 2, 6, tzinfo=UTC), "success", deleted=[overdue]),
    ]
    storage = open_storage(str(tmp_path))
    (tmp_path / held).write_bytes(b"x")
    (tmp_path / f"{held}.manifest.json").write_text("{}")
    for newer in range(3):  # the newest good archives, which keep-last protects
        name = made(datetime(2026, 11, 28 + newer, tzinfo=UTC))
        (tmp_path / name).write_bytes(b"x")
        (tmp_path / f"{name}.manifest.json").write_text("{}")
    entries = list_archives(storage)
    holds = {held: Hold(held, "legal: case 7", "2026-08-06T00:00:00+00:00")}
    now = datetime(2026, 12, 2, 12, tzinfo=UTC)
    november = judge_month(
        datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC), now, runs, entries, holds,
        RetentionPolicy(90, 3), {},
    )  # fmt: skip
    fates = {fate.archive: fate for fate in november}
    assert (fates[late].verdict, fates[late].detail) == (Verdict.LATE, "10.2 days late")
    assert fates[overdue].verdict == Verdict.OVERDUE and fates[overdue].deleted is None
    assert "13.0 days past its limit on 2026-12-01 00:00 UTC" in fates[overdue].detail
    assert fates[on_time].verdict == Verdict.ON_TIME
    assert (fates[early].verdict, fates[early].detail) == (Verdict.EARLY, "49.8 days early")
    assert (fates[held].verdict, fates[held].detail) == (Verdict.KEPT, "held (legal: case 7)")
    assert set(fates) == {late, overdue, on_time, early, held}  # the newest three reached no limit
    december = judge_month(
        datetime(2026, 12, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC), now, runs, entries, holds,
        RetentionPolicy(90, 3), {},
    )  # fmt: skip
    assert {fate.archive: fate.verdict for fate in december} == {overdue: Verdict.LATE, held: Verdict.KEPT}

    # The report an auditor reads, rendered from the same ledger facts: November's retention is not met, the
    # late and overdue archives say so with their delays, the words render in HTML (no Markdown backticks).
    from engine.archive.holds import place_hold
    from engine.evidence.ledger import record_run
    from engine.sla.compliance import Schedule
    from engine.sla.report import build_report, render
    from tests.history import record as ledger_record

    for run in sorted(runs, key=lambda run: run.started):
        record_run(storage, ledger_record(run.kind, run.started, run.result, seconds=1, **run.details))
    place_hold(storage, held, "legal: case 7", clock=lambda: datetime(2026, 8, 6, tzinfo=UTC))
    report = build_report(storage, "2026-11", schedule=Schedule(), policy=RetentionPolicy(90, 3), now=now)
    markdown, page = render(report, "md"), render(report, "html")
    assert "Retention adherence: NOT met" in markdown and "on schedule: yes" not in markdown
    adherence = next(line for line in markdown.splitlines() if line.startswith("Retention adherence"))
    assert "1 late" in adherence and "1 overdue" in adherence and "1 early" in adherence, adherence
    rows = {line.split("|")[1].strip(): line for line in markdown.splitlines() if line.startswith("| 2026")}
    assert "LATE" in rows[late] and "10.2 days late" in rows[late], rows
    assert "OVERDUE" in rows[overdue] and "kept" in rows[held] and "legal: case 7" in rows[held], rows
    assert "`" not in page.split("</style>")[-1] and "<code>" in page
