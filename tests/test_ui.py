"""The dashboard driven through Textual's pilot against the real bed: restore, purge, filter, backup now,
holds, views and commands, read-only mode, and the ways it must open (empty, unreachable, no Kubernetes)."""

from __future__ import annotations

import getpass
import shutil
import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pymongo
import pytest
from textual.widgets import DataTable, Input, Static

from engine.archive.catalog import list_archives
from engine.common.progress import Progress
from engine.sla.retention import RetentionPolicy
from engine.storage import open_storage
from tests.bed import demo
from tests.helpers import raw_documents, run_vaultui, settle, wait_for
from vaultui import app as app_module
from vaultui.app import VaultApp, make_app
from vaultui.screens.archives import COLUMNS, ArchivesScreen
from vaultui.screens.dialogs import ConfirmScreen, TypedConfirmScreen
from vaultui.screens.purge import PurgeScreen
from vaultui.screens.restore import RestoreScreen
from vaultui.settings import AppSettings


@pytest.fixture(scope="session")
def history(ferretdb, tmp_path_factory: pytest.TempPathFactory) -> Path:  # noqa: ANN001
    """Twenty nights of real archives of the demo shop (one failed, one missed, one held), made once."""
    client: pymongo.MongoClient = pymongo.MongoClient(ferretdb.url)
    demo.seed_sample(client, customers=60)
    folder = tmp_path_factory.mktemp("ui-history")
    demo.make_history(
        str(folder),
        ferretdb.url,
        datetime.now(UTC),
        days=20,
        failed=(4,),
        missed=(7,),
        late=(),
        held=15,
        report=lambda _: None,
    )
    return folder


@pytest.fixture
def backups(history: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "backups"
    shutil.copytree(history, copy)
    return copy


@pytest.fixture
def settings(backups: Path, mongo_uri: str) -> AppSettings:
    return AppSettings(
        storage_url=str(backups),
        source_uri=mongo_uri,
        targets={"ferretdb": mongo_uri},
        drill_uri=mongo_uri,
        refresh_seconds=0,
        policy=RetentionPolicy(max_age_days=12),
    )


def table_names(app: VaultApp) -> list[str]:
    return [entry.name for entry in app.screen.shown_entries]


async def test_archives_listed_newest_first_with_status_and_detail(settings: AppSettings, backups: Path) -> None:
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        names = table_names(app)
        assert names == [entry.name for entry in list_archives(open_storage(str(backups)))]
        assert len(names) == 18  # 20 nights, less one failed and one missed
        table = app.screen.query_one("#archives", DataTable)
        status_column = [label for label, _ in COLUMNS].index("Status")
        statuses = {str(table.get_row_at(index)[status_column]) for index in range(table.row_count)}
        assert {"held", "verified"} <= statuses  # verified: each backup read its archive back before committing
        detail = str(app.screen.query_one("#detail-text", Static).render())
        assert "shop.orders: 240 docs" in detail and "newest verified archive" in detail


async def test_the_table_fills_from_the_listing_before_the_status_is_read(
    settings: AppSettings, backups: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """First rows come from one listing; state and purge columns follow once the ledger is read (held back here
    until the rows are on screen, so the test sees the order a slow S3 ledger gives, without timing)."""
    rows_shown = threading.Event()
    real_summarize = app_module.summarize

    def held_back(*arguments, **keywords):  # noqa: ANN002, ANN003, ANN202
        assert rows_shown.wait(60), "the table never filled from the listing"
        return real_summarize(*arguments, **keywords)

    monkeypatch.setattr(app_module, "summarize", held_back)
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one("#archives", DataTable)
        await wait_for(pilot, lambda: table.row_count > 0)
        status_column = [label for label, _ in COLUMNS].index("Status")
        assert app.summary is None and str(table.get_row_at(0)[status_column]) == "…"
        assert table_names(app) == [entry.name for entry in list_archives(open_storage(str(backups)))]
        rows_shown.set()
        await settle(app, pilot)
        assert str(table.get_row_at(0)[status_column]) == "verified"


async def test_filter_narrows_and_escape_clears(settings: AppSettings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        everything = table_names(app)
        await pilot.press("slash")
        await pilot.press(*"held")
        await pilot.pause()
        assert len(table_names(app)) == 1
        await pilot.press("escape")
        await pilot.pause()
        assert table_names(app) == everything and not app.screen.query_one("#filter", Input).display


async def test_restore_into_ferretdb_through_the_ui(
    settings: AppSettings, mongo_client: pymongo.MongoClient, database_name: str
) -> None:
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await pilot.pause()
        assert isinstance(app.screen, RestoreScreen)
        app.screen.query_one("#ns-from", Input).value = "shop.*"
        app.screen.query_one("#ns-to", Input).value = f"{database_name}.*"
        await pilot.click("#restore")
        await settle(app, pilot)
        assert isinstance(app.screen, TypedConfirmScreen)
        await pilot.press(*"ferretdb")
        await pilot.press("enter")
        await settle(app, pilot)
        result = str(app.screen.query_one("#restore-result", Static).render())
        assert "restored" in result and "RTO target 10m00s: met" in result
    assert raw_documents(mongo_client[database_name]["orders"]) == raw_documents(mongo_client["shop"]["orders"])
    assert "customer_1" in mongo_client[database_name]["orders"].index_information()


async def restore_from_the_screen(
    app: VaultApp,
    pilot,  # noqa: ANN001
    database_name: str,
    before_confirming=lambda: None,  # noqa: ANN001
) -> None:
    """The latest archive's shop.* into a new database, through the restore screen and its typed confirmation."""
    await settle(app, pilot)
    await pilot.press("r")
    app.screen.query_one("#ns-from", Input).value = "shop.*"
    app.screen.query_one("#ns-to", Input).value = f"{database_name}.*"
    await pilot.click("#restore")
    await settle(app, pilot)
    await pilot.press(*"ferretdb")
    before_confirming()
    await pilot.press("enter")


async def test_leaving_the_restore_screen_while_it_runs(
    settings: AppSettings, mongo_client: pymongo.MongoClient, database_name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An on-call engineer starts a restore and goes back to the archives while it runs: the app keeps working
    and the restore's end is told by a notification (found by bench.dashboard_scale: the app crashed here)."""
    from engine.restore import single_pass as restore_module

    verified, leave = threading.Event(), threading.Event()

    def hold_at(name: str) -> None:  # the restore waits, after its verifying read, until the screen is gone
        if name == "restore.verified":
            verified.set()
            assert leave.wait(timeout=60)

    monkeypatch.setattr(restore_module, "checkpoint", hold_at)
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await restore_from_the_screen(app, pilot, database_name)
        await wait_for(pilot, verified.is_set)
        await pilot.press("escape")
        assert isinstance(app.screen, ArchivesScreen) and app.busy == "restore"
        await pilot.press("down", "up", "question_mark", "escape")
        leave.set()
        await settle(app, pilot)
        assert app.busy is None and isinstance(app.screen, ArchivesScreen)
        assert any("restored" in str(toast.message) for toast in app._notifications)
    assert raw_documents(mongo_client[database_name]["orders"]) == raw_documents(mongo_client["shop"]["orders"])


class HeldRestore:
    """A real restore into a new database, started from the restore screen and held by the test at its first
    progress report once confirmed (the preview before it reports progress too, and runs freely)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        from engine.common import progress as progress_module

        self.armed, self.reached, self.release = threading.Event(), threading.Event(), threading.Event()
        monkeypatch.setattr(progress_module, "checkpoint", self.hold)

    def hold(self, name: str) -> None:
        if self.armed.is_set() and name.endswith(".progress") and not self.reached.is_set():
            self.reached.set()
            assert self.release.wait(timeout=60)

    async def start(self, app: VaultApp, pilot, database_name: str) -> None:  # noqa: ANN001
        await restore_from_the_screen(app, pilot, database_name, before_confirming=self.armed.set)
        await wait_for(pilot, self.reached.is_set)


@pytest.mark.parametrize("choice", ["wait", "cancel"])
async def test_quit_while_a_restore_runs_asks_and_never_vanishes(
    choice: str,
    settings: AppSettings,
    backups: Path,
    mongo_client: pymongo.MongoClient,
    database_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`q` during a restore quit into a blank terminal while the restore went on (a tired person then pressed
    ctrl+c mid-replay). Now it asks: keep working (focused), quit when it ends, or cancel it safely; the
    header says what runs on every view; the app quits only once the restore has ended, printing how."""
    from engine.evidence.ledger import list_runs
    from vaultui.screens.dialogs import QuitWhileBusyScreen

    held = HeldRestore(monkeypatch)
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await held.start(app, pilot, database_name)
        await pilot.press("escape")  # back to the archives: the header still says a restore runs
        header = str(app.screen.query_one("#status-line", Static).render())
        assert "⟳ restore starting…" in header, header  # held before its first progress report
        # Once progress arrives, what runs and how far, on every view (the message the worker posts):
        app.work_progress = Progress("restore", 4096, 10240, 1234, 3000, "shop.orders", 4.0)
        app.refresh_status_lines()
        header = str(app.screen.query_one("#status-line", Static).render())
        assert "⟳ restore 40%, 1,234 docs, ETA 6.0s" in header, header
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitWhileBusyScreen) and app.is_running
        await pilot.press("enter")  # "Keep working" has the focus: a stray enter quits nothing
        await pilot.pause()
        assert not isinstance(app.screen, QuitWhileBusyScreen) and app.busy == "restore" and app.is_running
        await pilot.press("colon", *"quit", "enter")  # the command line asks the same
        await pilot.pause()
        assert isinstance(app.screen, QuitWhileBusyScreen)
        await pilot.click(f"#{choice}")
        await pilot.pause()
        assert app.is_running and app.busy == "restore"  # it waits for the restore, whatever was chosen
        assert ("cancelling" if choice == "cancel" else "quitting when it ends") in app.progress_text()
        held.release.set()
        await wait_for(pilot, lambda: not app.is_running)
    [record] = list_runs(open_storage(str(backups)), "restore")
    if choice == "wait":
        assert record.succeeded and "restored" in app.last_outcome
        assert raw_documents(mongo_client[database_name]["orders"]) == raw_documents(mongo_client["shop"]["orders"])
    else:
        assert not record.succeeded and record.error == "interrupted" and "cancelled" in app.last_outcome
        assert mongo_client[database_name].list_collection_names() == []  # staging dropped, targets untouched


async def test_quit_while_a_backup_runs_waits_for_it(
    settings: AppSettings, backups: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same question for a backup (`b`): waiting quits once the archive is complete, never mid-write."""
    from vaultui.screens.dialogs import QuitWhileBusyScreen

    held = HeldRestore(monkeypatch)
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        before = len(list_archives(open_storage(str(backups))))
        held.armed.set()
        await pilot.press("b")
        await wait_for(pilot, held.reached.is_set)
        assert "⟳ backup" in str(app.screen.query_one("#status-line", Static).render())
        await pilot.press("q")
        await pilot.pause()
        assert isinstance(app.screen, QuitWhileBusyScreen) and app.is_running
        await pilot.click("#wait")
        await pilot.pause()
        assert app.is_running and app.busy == "backup" and "quitting when it ends" in app.progress_text()
        held.release.set()
        await wait_for(pilot, lambda: not app.is_running)
    assert len(list_archives(open_storage(str(backups)))) == before + 1
    assert "backup" in app.last_outcome


async def test_the_restore_form_starts_from_the_settings_namespaces(settings: AppSettings) -> None:
    """--db/--ns-include fill the form's scope and --ns-exclude stays in force: the dashboard restores what the
    CLI restore would with the same settings (it restored every database whatever they said)."""
    from dataclasses import replace

    from engine.common.config import Settings
    from engine.run_options import namespace_filter

    chosen = Settings(db=("shop",), ns_include=("shop.orders",), ns_exclude=("*.tmp",))
    app = make_app(replace(settings, resolved=chosen))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await settle(app, pilot)
        assert isinstance(app.screen, RestoreScreen)
        assert app.screen.query_one("#databases", Input).value == "shop"
        assert app.screen.request(dry_run=True).namespaces == namespace_filter(chosen)


async def test_guarded_restore_is_refused_in_the_ui(settings: AppSettings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await pilot.click("#preview")
        await settle(app, pilot)
        plan = app.screen.query_one("#restore-plan", DataTable)
        assert {str(plan.get_row_at(index)[4]) for index in range(plan.row_count)} == {"REFUSED"}


async def test_purge_through_the_ui(settings: AppSettings, backups: Path) -> None:
    before = {entry.name for entry in list_archives(open_storage(str(backups)))}
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        assert isinstance(app.screen, PurgeScreen)
        plan = app.screen.plan
        assert plan is not None and plan.deletions
        doomed = {decision.name for decision in plan.deletions}
        # The plan in the words `purge --dry-run` prints (vaultui.formatting.plan_summary, written once).
        title = str(app.screen.query_one("#purge-title", Static).render())
        env = {"VAULTUI_STORAGE": str(backups), "VAULTUI_MAX_AGE_DAYS": "12"}
        dry_run = run_vaultui("--headless", "purge", "--dry-run", env=env)
        summary = dry_run.stdout.splitlines()[0]
        assert summary.startswith("purge plan (dry run") and summary[1:] in title, (summary, title)
        await pilot.press("a")
        await pilot.pause()
        assert isinstance(app.screen, ConfirmScreen) and app.screen.focused is not None
        assert app.screen.focused.id == "cancel"  # a stray enter cancels
        await pilot.click("#confirm")
        await settle(app, pilot)
    after = {entry.name for entry in list_archives(open_storage(str(backups)))}
    assert after == before - doomed and doomed


async def test_a_purge_that_leaves_an_archive_is_reported_as_failed(settings: AppSettings, backups: Path) -> None:
    """An archive the purge cannot delete (a link out of the folder, as the CLI test uses): the dashboard says
    which and why, as an error, never "ok", while the others go (the CLI exits 5 for the same run)."""
    linked = (datetime.now(UTC) - timedelta(days=130)).strftime("%Y%m%dT%H%M%SZ") + ".tar.zst"
    outside = backups.parent / "elsewhere.tar.zst"
    outside.write_bytes(b"x" * 10)
    (backups / linked).symlink_to(outside)
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        assert isinstance(app.screen, PurgeScreen) and app.screen.plan is not None
        assert linked in {decision.name for decision in app.screen.plan.deletions}
        await pilot.press("a")
        await pilot.pause()
        await pilot.click("#confirm")
        await settle(app, pilot)
        errors = [note.message for note in app._notifications if note.severity == "error"]
        assert any("purge" in message and linked in message for message in errors), errors
        assert not any(note.severity != "error" and "purge" in note.message for note in app._notifications)
    assert (backups / linked).is_symlink() and outside.exists()


async def test_backup_now_and_hold_from_the_ui(settings: AppSettings, backups: Path) -> None:
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        count = len(table_names(app))
        await pilot.press("b")
        await settle(app, pilot)
        assert len(table_names(app)) == count + 1
        selected = app.screen.selected
        assert selected is not None and not selected.held
        await pilot.press("h")  # an empty reason holds nothing, and says so
        await pilot.pause()
        await pilot.press("enter")
        await settle(app, pilot)
        assert any("a hold needs a reason" in note.message for note in app._notifications)
        assert not app.screen.selected.held
        await pilot.press("h")
        await pilot.pause()
        await pilot.press(*"audit")
        await pilot.press("enter")
        await settle(app, pilot)
        await wait_for(pilot, lambda: "audit" in app.screen.detail_text)
        # Who held it, for the auditor reading it later (user@host of the process that placed it).
        assert f"by {getpass.getuser()}@{socket.gethostname()}" in app.screen.detail_text, app.screen.detail_text
    held = {entry.name for entry in list_archives(open_storage(str(backups))) if entry.held}
    assert selected.name in held


async def test_a_wrong_word_says_so_and_the_field_never_looks_filled(settings: AppSettings) -> None:
    """Typed confirmation: the placeholder is not the word (an empty field must not look typed); a wrong word and
    enter say what is wrong and keep the dialog; the right word confirms."""
    outcome: list[bool | None] = []
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        app.push_screen(TypedConfirmScreen("Restore?", "body", "ferretdb"), outcome.append)
        await pilot.pause()
        field = app.screen.query_one("#typed", Input)
        assert app.screen.focused is field and "ferretdb" not in field.placeholder
        await pilot.press("enter")
        await pilot.pause()
        assert "nothing typed: type ferretdb" in str(app.screen.query_one("#typed-wrong").render())
        await pilot.press(*"ferret", "enter")
        await pilot.pause()
        assert isinstance(app.screen, TypedConfirmScreen) and not outcome
        assert "'ferret' is not 'ferretdb'" in str(app.screen.query_one("#typed-wrong").render())
        await pilot.press(*"db", "enter")
        await pilot.pause()
        assert outcome == [True]


async def test_the_restore_form_starts_focused_and_marks_an_old_preview_stale(settings: AppSettings) -> None:
    """Focus starts on the target (keys work at once); a preview that said REFUSED is cleared, and said so, as
    soon as a choice changes (the mode, here), so it never speaks for choices it was not made for."""
    from textual.widgets import RadioSet

    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await settle(app, pilot)
        assert isinstance(app.screen, RestoreScreen)
        assert app.screen.focused is app.screen.query_one("#target", RadioSet)
        await pilot.click("#preview")  # the shop.* namespaces into the bed, which holds them: refused
        await settle(app, pilot)
        assert "REFUSED" in str(app.screen.query_one("#restore-result", Static).render())
        await pilot.click("#mode-drop")
        await settle(app, pilot)
        result = str(app.screen.query_one("#restore-result", Static).render())
        assert "REFUSED" not in result and "changed since the preview" in result, result
        assert app.screen.query_one("#restore-plan", DataTable).row_count == 0


async def test_views_commands_and_help(settings: AppSettings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("colon", *"runs", "enter")
        await settle(app, pilot)
        assert app.current_mode == "runs"
        runs = app.screen.query_one("#runs", DataTable)
        assert runs.row_count == 19 and "failure" in {str(runs.get_row_at(i)[2]) for i in range(runs.row_count)}
        await pilot.press("colon", *"c", "enter")
        await settle(app, pilot)
        assert app.current_mode == "compliance"
        await pilot.press("escape")
        assert app.current_mode == "archives"
        await pilot.press("question_mark")
        await pilot.pause()
        assert "Restore" in str(app.screen.query_one(Static).render())


async def test_readonly_hides_dangerous_actions(settings: AppSettings) -> None:
    from dataclasses import replace

    app = make_app(replace(settings, readonly=True))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await pilot.press("p")
        await pilot.pause()
        assert isinstance(app.screen, ArchivesScreen)


async def test_opens_on_empty_storage_unreachable_storage_and_without_kubernetes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-kubeconfig"))
    empty = tmp_path / "empty"
    empty.mkdir()
    app = make_app(AppSettings(storage_url=str(empty), refresh_seconds=0, targets={"x": "mongodb://127.0.0.1:1/"}))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "Press b to run the first backup" in str(app.screen.query_one("#detail-text", Static).render())
    app = make_app(AppSettings(storage_url=str(tmp_path / "not-mounted"), refresh_seconds=0))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "does not exist" in app.state_error
    app = make_app(AppSettings(storage_url="s3://", refresh_seconds=0))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        assert "malformed storage URL" in app.state_error


@pytest.fixture
def no_kubernetes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    yield


async def test_restore_screen_says_how_to_configure_kubernetes(settings: AppSettings, no_kubernetes: None) -> None:
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await settle(app, pilot)
        assert "no Kubernetes configuration: set KUBECONFIG" in str(app.screen.query_one("#pods", Static).render())


async def test_vim_keys_move_through_the_archives(settings: AppSettings) -> None:
    """j/k step, G jumps to the last row and g back to the first, as in vim, less and k9s."""
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#archives", DataTable)
        last = table.row_count - 1
        await pilot.press("j", "j")
        assert table.cursor_row == 2
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("G")
        assert table.cursor_row == last
        await pilot.press("g")
        assert table.cursor_row == 0


async def test_at_80_columns_the_header_leads_with_compliance_and_read_only_says_so(settings: AppSettings) -> None:
    from dataclasses import replace

    from textual.widgets import Footer

    from vaultui.widgets.status_line import StatusLine

    app = make_app(replace(settings, readonly=True))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        header = str(app.screen.query_one(StatusLine).render())
        assert header.startswith("compliance ") and "READ-ONLY" in header[:80], header
        footer_keys = {item.binding.description for item in app.screen.active_bindings.values() if item.binding.show}
        # hidden, not shown and refused; backup too: it writes an archive
        assert not {"Restore", "Hold", "Purge", "Backup"} & footer_keys
        assert {"Filter", "Help", "Go", "Quit", "Verify"} <= footer_keys
        assert app.screen.query_one(Footer).show_command_palette is False
        await pilot.press("r", "b")  # a hidden action's key says why nothing happens
        await pilot.pause()
        said = [str(note.message) for note in app._notifications]
        assert "read-only (--readonly): restore is off" in said and "read-only (--readonly): backup is off" in said
        assert app.busy is None and isinstance(app.screen, ArchivesScreen)


async def test_enter_opens_an_archive_and_a_run_whole(settings: AppSettings) -> None:
    from vaultui.screens.dialogs import DetailScreen

    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, DetailScreen)
        body = str(app.screen.query_one("#detail-body", Static).render())
        assert "collections" in body and "history" in body
        await pilot.press("escape")
        await pilot.press("colon", *"runs", "enter")
        await settle(app, pilot)
        runs = app.screen.query_one("#runs", DataTable)
        failed = next(i for i in range(runs.row_count) if str(runs.get_row_at(i)[2]) == "failure")
        runs.move_cursor(row=failed)
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, DetailScreen)
        body = str(app.screen.query_one("#detail-body", Static).render())
        assert "error" in body and "result    failure" in body


async def test_runs_hide_verify_records_and_filter(settings: AppSettings, backups: Path) -> None:
    from engine.evidence.verify import verify_and_record

    storage = open_storage(str(backups))
    for entry in list_archives(storage)[:3]:
        verify_and_record(storage, entry)
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("colon", *"runs", "enter")
        await settle(app, pilot)
        screen = app.screen
        assert all(run.kind != "verify" for run in screen.shown_runs)
        assert "3 verify records hidden" in str(screen.query_one("#runs-title", Static).render())
        await pilot.press("v")
        await pilot.pause()
        assert sum(run.kind == "verify" for run in screen.shown_runs) == 3
        await pilot.press("slash", *"failure")
        await pilot.pause()
        assert screen.shown_runs and all(run.result == "failure" for run in screen.shown_runs)


async def test_colon_archives_leaves_the_purge_view(settings: AppSettings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("p")
        await settle(app, pilot)
        assert isinstance(app.screen, PurgeScreen)
        plan = app.screen.query_one("#plan", DataTable)
        assert str(plan.get_row_at(0)[0]) == "delete"  # what goes comes first
        await pilot.press("colon", *"archives", "enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ArchivesScreen)


async def test_a_refused_preview_offers_no_confirmation_and_says_what_to_change(settings: AppSettings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await pilot.click("#restore")  # guarded, into the shop that holds data
        await settle(app, pilot)
        assert isinstance(app.screen, RestoreScreen)
        result = str(app.screen.query_one("#restore-result", Static).render())
        assert "REFUSED" in result and "mode 'drop'" in result and "--drop" not in result


async def test_a_filter_matching_nothing_shows_no_archive_detail(settings: AppSettings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("slash", *"nothing-like-this")
        await settle(app, pilot)
        assert table_names(app) == []
        assert "No archive matches" in str(app.screen.query_one("#detail-text", Static).render())


async def test_sorting_and_command_completion(settings: AppSettings) -> None:
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("o")
        await settle(app, pilot)
        sizes = [entry.size for entry in app.screen.shown_entries]
        assert sizes == sorted(sizes, reverse=True)
        await pilot.press("o")
        await settle(app, pilot)
        states = [str(app.summary.state(entry)) for entry in app.screen.shown_entries]
        assert states[-1] == "verified" or len(set(states)) == 1
        await pilot.press("colon", *"comp", "enter")  # a unique prefix completes
        await settle(app, pilot)
        assert app.current_mode == "compliance"


async def test_a_big_storage_draws_the_newest_rows_and_the_filter_finds_the_rest(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More archives than the table draws: the newest ROW_LIMIT rows, a line saying how many are not drawn, the
    filter reaching an old one, and a screen resumed over an unchanged state (after the help) not redrawn."""
    from datetime import timedelta

    from vaultui.screens import archives as archives_module

    now = datetime(2026, 11, 26, tzinfo=UTC)
    extra = 25
    names = []
    for index in range(archives_module.ROW_LIMIT + extra):  # 8 a day, newest first
        name = (now - timedelta(hours=3 * (index + 1))).strftime("%Y%m%dT%H%M%SZ") + ".tar.zst"
        (tmp_path / name).write_bytes(b"x")
        names.append(name)
    fills: list[int] = []
    fill_rows = ArchivesScreen.fill_rows

    def counted(self, *arguments, **keywords) -> None:  # noqa: ANN001, ANN002, ANN003
        fills.append(1)
        fill_rows(self, *arguments, **keywords)

    monkeypatch.setattr(ArchivesScreen, "fill_rows", counted)
    app = make_app(AppSettings(storage_url=str(tmp_path), refresh_seconds=0, clock=lambda: now))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        table = app.screen.query_one("#archives", DataTable)
        assert table.row_count == archives_module.ROW_LIMIT and table_names(app) == names[: table.row_count]
        assert table.virtual_size.height == archives_module.ROW_LIMIT + 1  # the rows and the header, one line each
        assert f"{extra:,} older archives not listed" in str(app.screen.query_one("#flash", Static).render())
        drawn = len(fills)
        await pilot.press("question_mark")
        await pilot.press("escape")
        await settle(app, pilot)
        assert len(fills) == drawn and table.row_count == archives_module.ROW_LIMIT
        oldest = names[-1]
        await pilot.press("slash", *oldest[:11])
        await settle(app, pilot)
        assert oldest in table_names(app) and len(table_names(app)) < 8
        await pilot.press("escape")
        await settle(app, pilot)
        assert table.row_count == archives_module.ROW_LIMIT
