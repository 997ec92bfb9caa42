"""Snapshots of every screen, form and dialog at 60×20, 80×24 and 120×40, on a fixed history with the clock frozen."""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path

import pytest

from engine.archive.manifest import CollectionEntry, Manifest
from engine.common.progress import Progress
from engine.evidence.ledger import record_run
from engine.storage import open_storage
from tests.helpers import settle
from tests.history import NOW, capture_history, nightly_runs, record
from vaultui.app import make_app
from vaultui.screens.dialogs import QuitWhileBusyScreen, TypedConfirmScreen
from vaultui.settings import AppSettings


def fixed_storage(folder: Path) -> None:
    storage = open_storage(str(folder))
    for run in nightly_runs():
        record_run(storage, run)
        if run.succeeded and run.archive and run.started >= NOW - timedelta(days=100):
            (folder / run.archive).write_bytes(b"x" * (20_000 + run.started.day * 100))
            manifest = Manifest(
                archive=run.archive,
                stamp=run.archive.split(".")[0],
                codec="zstd",
                archive_bytes=20_000 + run.started.day * 100,
                archive_sha256="ab" * 32,
                started_at=run.started_at,
                finished_at=run.finished_at,
                duration_seconds=60.0,
                server_version="7.0.14",
                dumper="native",
                tool_version="vaultui 0.1.0",
                collections=[
                    CollectionEntry("shop", "orders", documents=1200, bson_bytes=160_000),
                    CollectionEntry("shop", "customers", documents=300, bson_bytes=20_000),
                ],
            )
            (folder / f"{run.archive}.manifest.json").write_text(json.dumps(asdict(manifest)))
            ended = run.started.timestamp() + 60
            for name in (run.archive, f"{run.archive}.manifest.json"):
                os.utime(folder / name, (ended, ended))  # written when the run ended, as a backup writes them
    # The oplog captured for the last 12 days, with a hole (the capture was down past the oplog's window).
    capture_history(
        folder,
        NOW - timedelta(days=12),
        NOW - timedelta(minutes=3),
        (NOW - timedelta(days=6, hours=4), NOW - timedelta(days=5, hours=20)),
    )
    drill = record("drill", NOW - timedelta(days=17, hours=9), "success", seconds=312.5, rto_seconds=600)
    drill.bytes = 21_000  # the archive it read: the compliance view's RTO forecast is fitted on it
    record_run(storage, drill)
    (folder / "20260820T000500Z.tar.zst.hold.json").write_text(
        json.dumps({"archive": "20260820T000500Z.tar.zst", "reason": "audit 2026-Q3", "held_at": ""})
    )


@pytest.fixture
def app_factory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    folder = tmp_path / "backups"
    folder.mkdir()
    fixed_storage(folder)

    def factory(view: str = "archives", readonly: bool = False):  # noqa: ANN202
        settings = AppSettings(
            readonly=readonly,
            storage_url=str(folder),
            refresh_seconds=0,
            clock=lambda: NOW,
            start_view=view,
            targets={"staging": "mongodb://restore:secret@staging-0.db:27017/"},
        )
        app = make_app(settings)
        app.shown_storage_url = "file:///srv/backups"  # so that snapshots do not vary
        return app

    return factory


async def settled(pilot) -> None:  # noqa: ANN001
    await settle(pilot.app, pilot)


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 40)])
@pytest.mark.parametrize("view", ["archives", "compliance", "runs"])
def test_main_screens(view: str, size: tuple[int, int], app_factory, snap_compare) -> None:  # noqa: ANN001
    assert snap_compare(app_factory(view), terminal_size=size, run_before=settled)


async def open_purge(pilot) -> None:  # noqa: ANN001
    await settle(pilot.app, pilot)
    await pilot.press("p")
    await settle(pilot.app, pilot)


def test_purge_preview(app_factory, snap_compare) -> None:  # noqa: ANN001
    assert snap_compare(app_factory(), terminal_size=(120, 40), run_before=open_purge)


def press_then_settle(*keys: str):  # noqa: ANN201
    async def run(pilot) -> None:  # noqa: ANN001
        await settle(pilot.app, pilot)
        await pilot.press(*keys)
        await settle(pilot.app, pilot)

    return run


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 40)])
@pytest.mark.parametrize(("name", "keys"), [("restore", ("r",)), ("help", ("question_mark",)), ("detail", ("enter",))])
def test_forms_and_dialogs_fit(
    name: str, keys: tuple[str, ...], size: tuple[int, int], app_factory, snap_compare
) -> None:  # noqa: ANN001, E501
    """The restore form (its buttons on screen), the help and an archive's detail at each size."""
    assert snap_compare(app_factory(), terminal_size=size, run_before=press_then_settle(*keys))


LONG_RESTORE_BODY = "\n".join(
    ["Restore 20261125T000500Z.tar.zst into [b]staging[/b] (mongodb://restore:***@staging-0.db:27017/)."]
    + ["[b red]These collections will be DROPPED and replaced:[/b red]"]
    + [f"  shop.collection_{index:02d} ({index * 1000} documents now)" for index in range(10)]
    + ["\n24 namespaces, 1,500 documents, landing in database shop."]
)


def push_dialog(make_dialog):  # noqa: ANN001, ANN201
    """Opens a dialog directly: the typed restore confirmation needs a previewed target the fixture has not."""

    async def run(pilot) -> None:  # noqa: ANN001
        await settle(pilot.app, pilot)
        pilot.app.push_screen(make_dialog())
        await settle(pilot.app, pilot)

    return run


async def wrong_word(pilot) -> None:  # noqa: ANN001
    await push_dialog(lambda: TypedConfirmScreen("Restore?", LONG_RESTORE_BODY, "staging"))(pilot)
    await pilot.press(*"stagign", "enter")
    await settle(pilot.app, pilot)


async def running_restore(pilot) -> None:  # noqa: ANN001
    """The header while a restore runs, as its progress messages leave it (the work itself is not started)."""
    await settle(pilot.app, pilot)
    pilot.app.busy = "restore"
    pilot.app.work_progress = Progress("restore", 4096, 10240, 1234, 3000, "shop.orders", 4.0)
    pilot.app.refresh_status_lines()
    await pilot.pause()


DIALOGS = {
    "to-time-prompt": press_then_settle("colon", *"compliance", "enter", "t"),
    "quit-while-busy": push_dialog(lambda: QuitWhileBusyScreen("restore", "restore 40%, 1,234 docs, ETA 6.0s")),
    "wrong-word": wrong_word,
    "held-detail": press_then_settle("slash", *"20260820", "enter", "enter"),
    "running-header": running_restore,
    "hold-prompt": press_then_settle("h"),
    "command-line": press_then_settle("colon"),
    "purge-confirm": press_then_settle("p", "a"),
    "restore-confirm": push_dialog(lambda: TypedConfirmScreen("Restore?", LONG_RESTORE_BODY, "staging")),
    "run-detail": press_then_settle("colon", *"runs", "enter", "enter"),
}


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 40)])
@pytest.mark.parametrize("name", list(DIALOGS))
def test_prompts_and_confirmations_fit(name: str, size: tuple[int, int], app_factory, snap_compare) -> None:  # noqa: ANN001
    """Every prompt and confirmation, at each size: the title, the question and the buttons on screen."""
    assert snap_compare(app_factory(), terminal_size=size, run_before=DIALOGS[name])


@pytest.mark.parametrize("size", [(60, 20), (80, 24), (120, 40)])
def test_the_read_only_header(size: tuple[int, int], app_factory, snap_compare) -> None:  # noqa: ANN001
    """--readonly says so in the header and offers no key that writes (r, p, b, h are gone from the footer)."""
    assert snap_compare(app_factory(readonly=True), terminal_size=size, run_before=settled)
