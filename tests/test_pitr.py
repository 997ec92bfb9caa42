"""Point-in-time recovery end to end on the bed: FerretDB records an oplog once a capped `local.oplog.rs`
exists and serves tailable cursors on it (its entries: inserts, `$v:1 $set` updates of the whole document,
deletes). A base archive, then writes in five phases; the capture (`vaultui --headless oplog`) is killed with
SIGKILL between writing a chunk and its manifest, and restarted; each phase's end is then restored to, into
its own database, and must equal the documents as they were then, byte for byte. Entry shapes FerretDB does
not produce are covered by tests/test_oplog_apply.py on MongoDB's own oplog files."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime
from pathlib import Path
from threading import Event

import pymongo
import pytest
from bson import Timestamp

from engine.archive.catalog import list_archives
from engine.evidence.ledger import list_runs
from engine.pitr.coverage import compute_coverage
from engine.pitr.store import list_chunks, list_gaps
from engine.storage import open_storage
from tests.bed import servers
from tests.helpers import raw_documents, run_vaultui
from vaultui.exit_codes import ExitCode


def newest_ts(client: pymongo.MongoClient) -> str:
    entry = next(iter(client.local["oplog.rs"].find({}, {"ts": 1}).sort("$natural", -1).limit(1)))
    return f"{entry['ts'].time}:{entry['ts'].inc}"


def contents(client: pymongo.MongoClient, database: str) -> dict[str, list[bytes]]:
    return {name: sorted(raw_documents(client[database][name])) for name in client[database].list_collection_names()}


def write_phase(client: pymongo.MongoClient, phase: int) -> None:
    orders = client.shop.orders
    orders.insert_many([{"_id": f"p{phase}-{n}", "phase": phase, "n": n} for n in range(40)])
    orders.update_many({"phase": phase - 1}, {"$set": {"shipped": True}})
    orders.delete_many({"phase": phase - 2, "n": {"$lt": 10}})
    client.shop.audit.insert_one({"_id": phase, "note": f"phase {phase} done"})
    client.elsewhere.notes.insert_one({"_id": phase})  # outside the backup's scope (--db shop)


def test_restore_to_five_points_in_time_after_a_killed_capture(replica: servers.Server, tmp_path: Path) -> None:
    client: pymongo.MongoClient = pymongo.MongoClient(replica.url)
    client.shop.orders.insert_many([{"_id": f"base-{n}", "phase": 0, "n": n} for n in range(50)])
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {"VAULTUI_MONGO_URI": replica.url, "VAULTUI_TARGET_URI": replica.url, "VAULTUI_STORAGE": str(backups)}
    base = run_vaultui("--headless", "backup", "--db", "shop", env=env)
    assert base.returncode == 0, base.stderr

    points: list[tuple[str, dict[str, list[bytes]]]] = []
    for phase in range(1, 6):
        write_phase(client, phase)
        points.append((newest_ts(client), contents(client, "shop")))
        if phase == 2:  # a capture killed between a chunk and its manifest: the chunk never counts
            killed = run_vaultui(
                "--headless", "oplog", "--once", "--flush-mib", "0.001", env={**env, "VAULTUI_TEST_KILL_AT": "2"}
            )
            assert killed.returncode == -signal.SIGKILL, killed.stderr
    captured = run_vaultui("--headless", "oplog", "--once", "--flush-mib", "0.01", env=env)
    assert captured.returncode == 0, captured.stderr
    chunks = list_chunks(open_storage(str(backups)))
    assert len(chunks) >= 3
    assert all(later.after == earlier.last for earlier, later in zip(chunks, chunks[1:], strict=False))  # no hole

    client.drop_database("elsewhere")  # a replay within the base's scope never writes it back
    for index, (when, expected) in enumerate(points):
        target = f"pitr{index}"
        done = run_vaultui(
            "--headless", "restore", "--to-time", when, "--ns-from", "shop.*", "--ns-to", f"{target}.*", env=env
        )
        assert done.returncode == 0, done.stderr
        assert contents(client, target) == expected, f"restored to {when}"
    assert "elsewhere" not in client.list_database_names()
    [latest, *_] = list_runs(open_storage(str(backups)), "restore")  # one record: base load and replay
    assert latest.details["to_timestamp"] == points[-1][0] and latest.details["oplog_entries"] > 0
    preview = run_vaultui(
        "--headless",
        "restore",
        "--to-time",
        points[2][0],
        "--dry-run",
        "--ns-from",
        "shop.*",
        "--ns-to",
        "pv.*",
        env=env,
    )
    assert preview.returncode == 0, preview.stdout + preview.stderr
    assert "oplog entries from" in preview.stdout and "(checked); expected duration" in preview.stdout
    assert "dry run: would restore" in preview.stdout
    status = run_vaultui("--headless", "status", env=env)
    assert "restorable   " in status.stdout and "oplog        " in status.stdout, status.stdout
    # The newest second the dashboard offers to restore to is one a restore reaches (a base older than a
    # second, here: the base and the writes can share one).
    storage = open_storage(str(backups))
    coverage = compute_coverage(storage, list_archives(storage), {}, datetime.now(UTC))
    if coverage.newest_to_the_second is not None:  # None when base and capture share their last second
        newest = coverage.newest_to_the_second
        reached = run_vaultui(
            "--headless", "restore", "--to-time", f"{newest:%Y-%m-%dT%H:%M:%SZ}", "--dry-run",
            "--ns-from", "shop.*", "--ns-to", "pv.*", env=env,
        )  # fmt: skip
        assert reached.returncode == 0, reached.stdout + reached.stderr


def test_a_window_holding_a_restore_and_a_drill_is_refused_and_never_replays_vaultui_writes(
    replica: servers.Server, tmp_path: Path
) -> None:
    """What an on-call session met: after a drill and a restore into the database itself, a restore to a later
    time brought back orders the restore had removed and recreated the staging collections and the drill's
    database. The capture now leaves vaultui's own writes out, a restore to a time across a recorded restore is
    refused (naming it) unless confirmed, and on a server that logs no drops or renames (the bed's FerretDB)
    the result says it is not faithful instead of claiming the state of that time."""
    from engine.common.namespaces import vaultui_namespace
    from engine.pitr.chunks import read_entries

    client: pymongo.MongoClient = pymongo.MongoClient(replica.url)
    client.night.orders.insert_many([{"_id": f"base-{n}"} for n in range(20)])
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {
        "VAULTUI_MONGO_URI": replica.url,
        "VAULTUI_TARGET_URI": replica.url,
        "VAULTUI_DRILL_URI": replica.url,
        "VAULTUI_STORAGE": str(backups),
    }
    assert run_vaultui("--headless", "backup", "--db", "night", env=env).returncode == 0
    client.night.orders.insert_many([{"_id": f"evening-{n}"} for n in range(12)])
    before_the_restore = newest_ts(client)
    evening = contents(client, "night")
    # The ledger records runs by the second: the drill and the restore must start after this time's second,
    # or they count as inside the stretch up to it (the faster CLI began them within the same second).
    while datetime.now(UTC).timestamp() < int(before_the_restore.split(":")[0]) + 1:
        time.sleep(0.05)
    drill = run_vaultui("--headless", "drill", env=env)
    assert drill.returncode == 0, drill.stderr
    again = run_vaultui("--headless", "restore", "--latest", "--drop", "--db", "night", env=env)  # removes evening-*
    assert again.returncode == 0, again.stderr
    client.night.orders.insert_many([{"_id": f"late-{n}"} for n in range(5)])
    after_everything = newest_ts(client)
    assert run_vaultui("--headless", "oplog", "--once", env=env).returncode == 0

    storage = open_storage(str(backups))
    chunks = list_chunks(storage)
    captured = list(read_entries(storage, chunks[0].after_ts, chunks[-1].last_ts, chunks))
    assert captured and not any(vaultui_namespace(str(entry["ns"])) for entry in captured)
    assert sum(chunk.own_entries_left_out for chunk in chunks) > 0  # the drill's and the staging inserts
    assert all(not chunk.logs_commands for chunk in chunks)  # FerretDB: said in each chunk's manifest

    remap = ("--ns-from", "night.*", "--ns-to", "late.*")
    refused = run_vaultui("--headless", "restore", "--to-time", after_everything, *remap, env=env)
    assert refused.returncode == ExitCode.CONFIG, refused.stdout + refused.stderr
    assert "1 restore(s) ran" in refused.stderr and "--across-restores" in refused.stderr
    assert "late" not in client.list_database_names()  # refused before anything changed

    confirmed = run_vaultui(
        "--headless", "restore", "--to-time", after_everything, "--across-restores", *remap, env=env
    )
    assert confirmed.returncode == 0, confirmed.stderr
    assert "NOT FAITHFUL" in confirmed.stdout and "logs only inserts, updates and deletes" in confirmed.stderr
    names = client.late.list_collection_names()
    assert names == ["orders"] and not any(name.startswith("vaultui_drill_") for name in client.list_database_names())

    # Before the drill and the restore: nothing of theirs is in the stretch, and the state is the one it was.
    clean = run_vaultui(
        "--headless", "restore", "--to-time", before_the_restore, "--ns-from", "night.*", "--ns-to", "early.*", env=env
    )
    assert clean.returncode == 0, clean.stderr
    assert contents(client, "early") == evening


def test_a_time_the_oplog_does_not_reach_is_a_clear_error(replica: servers.Server, tmp_path: Path) -> None:
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {"VAULTUI_MONGO_URI": replica.url, "VAULTUI_TARGET_URI": replica.url, "VAULTUI_STORAGE": str(backups)}
    early = run_vaultui("--headless", "restore", "--to-time", "2020-01-01T00:00:00Z", env=env)
    assert early.returncode == ExitCode.VERIFICATION_FAILED, early.stderr
    assert "2020-01-01 00:00:00 UTC cannot be reached" in early.stderr and "nothing in" in early.stderr
    assert run_vaultui("--headless", "backup", "--db", "shop", env=env).returncode == 0
    late = run_vaultui("--headless", "restore", "--to-time", "2099-01-01T00:00:00Z", env=env)
    assert late.returncode == ExitCode.VERIFICATION_FAILED, late.stderr
    assert "cannot be reached" in late.stderr and "the nearest restorable time before it is" in late.stderr


def test_a_standalone_server_has_no_oplog_to_capture(mongo_uri: str, tmp_path: Path) -> None:
    done = run_vaultui(
        "--headless", "oplog", "--once", env={"VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_STORAGE": str(tmp_path)}
    )
    assert (
        done.returncode == ExitCode.NO_OPLOG and "standalone server" in done.stderr and "rs.initiate()" in done.stderr
    )


def test_a_base_archive_is_consistent_at_its_oplog_end(
    replica: servers.Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Writes that land while a dump runs (here: after it read the collections, before it ended) are in the
    archive's own oplog.bson, like `mongodump --oplog`; a restore of the archive alone replays them, so it
    equals the database at the archive's oplog_end. Writes to a database the backup left out stay out."""
    import engine.backup.run as backup_module
    from engine.backup.run import BackupOptions, run_backup
    from engine.common.namespaces import NamespaceFilter

    client: pymongo.MongoClient = pymongo.MongoClient(replica.url)
    client.dumped.items.insert_many([{"_id": n, "v": 0} for n in range(30)])
    real_dump = backup_module.dump_into_tar

    def dump_then_write(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        entries = real_dump(*args, **kwargs)
        client.dumped.items.update_many({"_id": {"$lt": 10}}, {"$set": {"v": 1}})
        client.dumped.items.delete_many({"_id": {"$gte": 25}})
        client.dumped.late.insert_one({"_id": "made during the dump"})
        client.elsewhere.things.insert_one({"_id": "not in the backup"})
        return entries

    monkeypatch.setattr(backup_module, "dump_into_tar", dump_then_write)
    storage = open_storage(str(tmp_path))
    made = run_backup(storage, replica.url, BackupOptions(namespaces=NamespaceFilter(databases=("dumped",))))
    assert made.manifest.dump_oplog is not None and made.manifest.dump_oplog.entries >= 3
    expected = contents(client, "dumped")
    env = {"VAULTUI_TARGET_URI": replica.url, "VAULTUI_STORAGE": str(tmp_path)}
    done = run_vaultui("--headless", "restore", "--latest", "--ns-from", "dumped.*", "--ns-to", "consistent.*", env=env)
    assert done.returncode == 0, done.stderr
    assert contents(client, "consistent") == expected
    assert client.elsewhere.things.count_documents({}) == 1  # replayed nowhere else
    [record] = list_runs(storage, "restore")
    assert record.details["dump_oplog_entries"] == made.manifest.dump_oplog.entries


async def test_restore_to_a_time_from_the_dashboard(replica: servers.Server, tmp_path: Path) -> None:
    """The compliance view's timeline shows the captured oplog; `t` asks for a time, the restore flow plans
    from it (base archive, chunks checked), previews, asks for the target's name, restores and replays."""
    from textual.widgets import Input, Static

    from tests.helpers import settle
    from vaultui.app import make_app
    from vaultui.screens.dialogs import PromptScreen, TypedConfirmScreen
    from vaultui.screens.restore import RestoreScreen
    from vaultui.settings import AppSettings
    from vaultui.widgets.timeline import Timeline

    client: pymongo.MongoClient = pymongo.MongoClient(replica.url)
    client.ui.notes.insert_many([{"_id": n, "v": 0} for n in range(20)])
    backups = tmp_path / "backups"
    backups.mkdir()
    env = {"VAULTUI_MONGO_URI": replica.url, "VAULTUI_STORAGE": str(backups)}
    assert run_vaultui("--headless", "backup", "--db", "ui", env=env).returncode == 0
    client.ui.notes.update_many({"_id": {"$lt": 5}}, {"$set": {"v": 1}})
    when, expected = newest_ts(client), contents(client, "ui")
    client.ui.notes.delete_many({})  # after the chosen time: must not be in the restore
    assert run_vaultui("--headless", "oplog", "--once", env=env).returncode == 0

    app = make_app(AppSettings(storage_url=str(backups), targets={"replica": replica.url}, refresh_seconds=0))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        app.action_switch_view("compliance")
        await settle(app, pilot)
        assert app.summary is not None and app.summary.coverage.capturing  # the chunks are on the timeline
        assert "restorable " in str(app.screen.query_one(Timeline).render())
        await pilot.press("t")
        await settle(app, pilot)
        assert isinstance(app.screen, PromptScreen)
        app.screen.query_one(Input).value = when
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, RestoreScreen)
        app.screen.query_one("#ns-from", Input).value = "ui.*"
        app.screen.query_one("#ns-to", Input).value = "ui_then.*"
        await pilot.click("#restore")
        await settle(app, pilot)
        assert isinstance(app.screen, TypedConfirmScreen)
        await pilot.press(*"replica", "enter")
        await settle(app, pilot)
        result = str(app.screen.query_one("#restore-result", Static).render())
        assert "oplog entries up to" in result, result
        # The toast (what one sees having left the screen) says what was restored to when: base + N entries.
        toasts = [str(toast.message) for toast in app._notifications]
        until = f"to {datetime.fromtimestamp(int(when.split(':')[0]), UTC):%Y-%m-%d %H:%M:%S} UTC (base "
        assert any(until in toast and " oplog entries" in toast for toast in toasts), toasts
    assert contents(client, "ui_then") == expected


def test_a_capture_down_past_the_oplog_window_records_a_gap(tmp_path: Path) -> None:
    """A capture, then writes while it is down and the oplog rolls past its resume point, then a capture
    again: the hole is recorded as a gap with its bounds, status shows it, the day's ledger record fails
    with the reason, and a time inside the hole cannot be restored to (the error names the nearest times)."""
    server = servers.start_ferretdb()
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(server.url)
        client.local.create_collection("oplog.rs", capped=True, size=64 * 1024 * 1024)
        client.small.items.insert_many([{"_id": n} for n in range(5)])
        backups = tmp_path / "backups"
        backups.mkdir()
        env = {"VAULTUI_MONGO_URI": server.url, "VAULTUI_TARGET_URI": server.url, "VAULTUI_STORAGE": str(backups)}
        assert run_vaultui("--headless", "backup", "--db", "small", env=env).returncode == 0
        client.small.items.insert_one({"_id": "before the gap"})
        assert run_vaultui("--headless", "oplog", "--once", env=env).returncode == 0
        for n in range(20):
            client.small.items.insert_one({"_id": f"while down {n}"})
        lost = newest_ts(client)
        # The oplog rolls over while the capture is down: its oldest entries, the resume point among them, go.
        # (FerretDB trims a capped collection only on a timer, so the rollover is done here by hand.)
        seconds, increment = (int(part) for part in lost.split(":"))
        client.local["oplog.rs"].delete_many({"ts": {"$lte": Timestamp(seconds, increment)}})
        client.small.items.insert_one({"_id": "after"})
        again = run_vaultui("--headless", "oplog", "--once", env=env)
        assert again.returncode == 0 and "(1 gap found)" in again.stdout, again.stdout + again.stderr
        [gap] = list_gaps(open_storage(str(backups)))
        assert gap.after < gap.resumed
        status = run_vaultui("--headless", "status", "--rpo", "86400", env=env)
        assert "  GAP " in status.stdout and "1 gap\n" in status.stdout, status.stdout
        inside = run_vaultui("--headless", "restore", "--to-time", lost, "--dry-run", env=env)
        assert inside.returncode == ExitCode.VERIFICATION_FAILED, inside.stdout + inside.stderr
        assert "cannot be reached" in inside.stderr and "nearest restorable time" in inside.stderr
        [record] = [run for run in list_runs(open_storage(str(backups)), "oplog") if run.details.get("gaps")]
        assert record.result == "failure" and "rolled over" in (record.error or "")
    finally:
        server.stop()


def test_a_first_capture_on_an_empty_oplog_records_no_gap(tmp_path: Path) -> None:
    """Right after `make demo` a gap of a few seconds after the newest base was reported ("the oplog rolled over
    while the capture was down") while the capture ran: it had started on an empty oplog, and took the first
    entry that came, seconds after the base, for what was left after a rollover. A first capture on an empty
    oplog records no gap, and its chunks cover the stretch from the base on."""
    from engine.common.clock import utc_now
    from engine.pitr.capture import CaptureStats, _Capture

    server = servers.start_ferretdb()
    try:
        client: pymongo.MongoClient = pymongo.MongoClient(server.url)
        client.fresh.items.insert_one({"_id": "in the base"})
        # As the demo does: the oplog made just before the base, so empty when the base and the capture start.
        client.local.create_collection("oplog.rs", capped=True, size=16 * 1024 * 1024)
        backups = tmp_path / "backups"
        backups.mkdir()
        env = {"VAULTUI_MONGO_URI": server.url, "VAULTUI_STORAGE": str(backups)}
        assert run_vaultui("--headless", "backup", "--db", "fresh", env=env).returncode == 0
        storage = open_storage(str(backups))
        [base] = list_archives(storage)
        with pymongo.MongoClient(server.url) as tailer:
            run = _Capture(tailer, storage, CaptureStats(), None, utc_now)  # starts on the empty oplog
            while datetime.now(UTC).timestamp() < base.ref.time.timestamp() + 3:  # the demo's first write came
                Event().wait(0.05)  # seconds after the base: a state of the clock, polled
            client.fresh.items.insert_many([{"_id": f"after {n}"} for n in range(3)])
            run.check_rollover()  # what the capture does before every cursor
            for entry in run.oplog.find({"ts": {"$gt": run.resume}}):
                run.add(entry)
            run.flush()
        assert list_gaps(storage) == []
        coverage = compute_coverage(storage, list_archives(storage), {}, datetime.now(UTC))
        # Restorable from the end of the base's run (its commit, by the second: the run may cross a second) on
        # to the captured writes that came three seconds after it; with the false gap it was the commit alone.
        assert base.committed is not None
        [span] = coverage.spans
        assert coverage.gaps == [] and span.start == base.committed.replace(microsecond=0)
        [segment] = coverage.segments
        assert segment.last.time >= base.ref.time.timestamp() + 3 and span.end == segment.end
    finally:
        server.stop()
