"""The Textual app: holds the loaded state, runs long work in workers, routes keys and `:` commands.

Long because every key and `:` command of the dashboard is routed here, beside the one busy state that keeps
two changing actions from running at once; each screen holds its own work."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from textual import events, on, work
from textual.app import App, SystemCommand, UnknownModeError
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen
from textual.widgets import DataTable
from textual.worker import WorkerState

from engine.archive.catalog import ArchiveEntry, list_archives
from engine.archive.holds import place_hold, release_hold
from engine.backup.run import run_backup
from engine.common.config import put_in_force
from engine.common.errors import ConfigError, KubernetesError, VaultError
from engine.common.progress import Cancelled, Progress, ProgressCallback
from engine.evidence.verify import verify_and_record
from engine.fleet.file import Fleet
from engine.kube import cluster as kube
from engine.restore.drill import run_drill
from engine.run_options import backup_options
from engine.sla.rto import verdict
from engine.sla.status import StatusSummary, summarize
from engine.storage import Storage, open_storage
from vaultui.formatting import duration_text
from vaultui.messages import ActionFinished, ArchivesListed, StateFailed, StateLoaded, WorkProgressed
from vaultui.screens.archives import ArchivesScreen
from vaultui.screens.base import ActionWork
from vaultui.screens.compliance import ComplianceScreen
from vaultui.screens.dialogs import ConfirmScreen, PromptScreen, QuitWhileBusyScreen
from vaultui.screens.fleet import FleetScreen
from vaultui.screens.help import HelpScreen
from vaultui.screens.purge import PurgeScreen
from vaultui.screens.restore import RestoreScreen
from vaultui.screens.runs import RunsScreen
from vaultui.settings import AppSettings, FleetSettings
from vaultui.widgets.status_line import StatusLine

ALIASES = {
    "a": "archives",
    "archives": "archives",
    "r": "runs",
    "runs": "runs",
    "c": "compliance",
    "compliance": "compliance",
    "p": "purge",
    "purge": "purge",
    "f": "fleet",
    "fleet": "fleet",
}
# Keys of the tables that the footer does not show, for the help screen.
EXTRA_KEYS = [("enter", "details"), ("esc", "back")]  # j/k/g/G: the tables list their own
COMMANDS = ["archives", "runs", "compliance", "purge", "fleet", "help", "quit"]
DEPLOYMENT_MODES = ("archives", "runs", "compliance")  # one deployment's views: made anew for each one opened
# What --readonly hides: everything that writes (an archive, a hold, a restore, a purge).
DANGEROUS = {"restore", "restore_to_time", "hold", "switch_view:purge", "backup"}


class VaultApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "vaultui"
    MODES = {"archives": ArchivesScreen, "runs": RunsScreen, "compliance": ComplianceScreen}
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("colon", "command_line", "Go", key_display=":"),
        Binding("ctrl+r", "refresh", "Refresh", show=False),
        Binding("escape", "back", "Back", show=False),
        Binding("q", "quit", "Quit"),
    ]

    summary: reactive[StatusSummary | None] = reactive(None, init=False)
    listed: reactive[list[ArchiveEntry] | None] = reactive(None, init=False)  # before the first summary
    state_error: reactive[str] = reactive("", init=False)

    def __init__(self, settings: AppSettings, fleet: FleetSettings | None = None) -> None:
        super().__init__()
        self.settings = settings
        self.fleet_settings = fleet
        self.storage: Storage | None = None
        self.storage_label = settings.storage_url
        self.kube_label = "k8s: …"  # resolved by the first state load (reading a kubeconfig is I/O)
        self.busy: str | None = None
        self.work_progress: Progress | None = None  # the running action's newest progress (the header shows it)
        self.cancel_requested = threading.Event()  # the running action stops at its next progress report
        self.quit_when_done = False
        self.last_outcome = ""
        self.shown_storage_url = ""  # tests: the storage shown under another URL, so snapshots do not vary
        # How many state loads have ended (loaded or failed): the first one is the app's declared "ready".
        self.state_loads = 0

    def now(self) -> datetime:
        return self.settings.clock()

    @property
    def fleet(self) -> Fleet | None:
        return self.fleet_settings.fleet if self.fleet_settings is not None else None

    @property
    def fleet_deadline(self) -> float:
        return self.fleet_settings.deadline if self.fleet_settings is not None else 15.0

    def on_mount(self) -> None:
        if self.fleet_settings is not None:  # the fleet first: which deployment is in trouble
            self.add_mode("fleet", FleetScreen)
            self.switch_mode("fleet")
            if self.settings.refresh_seconds > 0:
                self.set_interval(self.settings.refresh_seconds, self.refresh_on_timer)
            return
        try:
            self.storage = open_storage(self.settings.storage_url, self.settings.storage_credentials)
            self.storage_label = self.shown_storage_url or self.storage.url
        except ConfigError as error:
            self.state_error = str(error)
        self.switch_mode("archives")
        if self.settings.start_view != "archives":
            self.action_switch_view(self.settings.start_view)
        self.refresh_state()
        if self.settings.refresh_seconds > 0:
            self.set_interval(self.settings.refresh_seconds, self.refresh_on_timer)

    # ---- state -------------------------------------------------------------------------------------

    def refresh_on_timer(self) -> None:
        if isinstance(self.screen, FleetScreen):
            self.screen.refresh_on_timer()
            return
        if not isinstance(self.screen, Screen) or self.screen.is_modal or self.busy or self.storage is None:
            return  # never reload under an open dialog or a running action
        self.refresh_state()

    def open_deployment(self, name: str) -> None:
        """The deployment's dashboard, as one opened with its storage alone. While an action runs in one
        deployment another is not opened: the running restore stays the one on screen (and in the header)."""
        if self.fleet_settings is None:
            return
        if name == self.settings.deployment:
            self.switch_mode("archives")
            return
        if self.busy:
            self.notify(
                f"{self.busy} is running in {self.settings.deployment}: open {name} once it ends (or cancel it)",
                severity="warning",
            )
            return
        deployment = self.fleet_settings.fleet.get(name)
        settings, problems = self.fleet_settings.for_deployment(deployment)
        for mode in DEPLOYMENT_MODES:  # the previous deployment's screens go with it
            with contextlib.suppress(UnknownModeError):
                self.remove_mode(mode)
            self.add_mode(mode, self.MODES[mode])
        self.settings = settings
        put_in_force(settings.resolved)  # its age identity, mongo tools, lease length (nothing runs: not busy)
        self.summary, self.listed, self.state_error, self.state_loads = None, None, "", 0
        self.kube_label = "k8s: …"
        self.storage = None
        try:
            self.storage = open_storage(settings.storage_url, settings.storage_credentials)
            self.storage_label = f"{name}: {self.storage.url}"
        except ConfigError as error:
            self.storage_label = f"{name}: {settings.storage_url}"
            self.state_error = str(error)
            self.state_loads = 1
        self.switch_mode("archives")
        for problem in problems:
            self.notify(problem, title=name, severity="warning", timeout=8)
        if self.storage is not None:
            self.refresh_state()

    @work(thread=True, exclusive=True, group="state", exit_on_error=False)
    def refresh_state(self) -> None:
        if self.kube_label == "k8s: …":
            try:
                target = kube.connect(self.settings.kube_context, self.settings.kube_namespace)
                self.kube_label = f"k8s: {target.context}/{target.namespace}"
            except KubernetesError:
                self.kube_label = "k8s: not configured"
        if self.storage is None:
            return
        try:
            archives = None
            if self.summary is None:  # first load: the table fills from the listing while the ledger is read
                archives = list_archives(self.storage)
                self.post_message(ArchivesListed(archives))
            summary = summarize(
                self.storage,
                self.now(),
                schedule=self.settings.schedule,
                policy=self.settings.policy,
                window_days=max(self.settings.window_days, 90),
                target_percent=self.settings.target_percent,
                rto_seconds=self.settings.rto_seconds,
                archives=archives,
            )
        except VaultError as error:
            self.post_message(StateFailed(str(error)))
            return
        self.post_message(StateLoaded(summary))

    @on(ArchivesListed)
    def archives_listed(self, message: ArchivesListed) -> None:
        if self.summary is None:
            self.listed = message.archives

    @on(StateLoaded)
    def state_loaded(self, message: StateLoaded) -> None:
        self.state_error = ""
        self.summary = message.summary
        self.state_loads += 1

    @on(StateFailed)
    def state_failed(self, message: StateFailed) -> None:
        self.state_error = message.error
        self.state_loads += 1
        self.notify(message.error, title="Storage", severity="error", timeout=10)

    def settled(self) -> bool:
        """True once the first load has ended, no worker is pending or running, every screen on the stack has
        shown the data it asked for, and every table has laid out the rows it was given. Tests and the tmux
        test wait for this state instead of sleeping."""
        if self.storage is not None and self.state_loads == 0:
            return False
        if any(worker.state in (WorkerState.PENDING, WorkerState.RUNNING) for worker in self.workers):
            return False
        return all(screen_settled(screen) for screen in self.screen_stack)

    # ---- views and keys ----------------------------------------------------------------------------

    def action_switch_view(self, view: str) -> None:
        """A view by name, from wherever one is: screens opened over the current view (purge, a restore) close
        first, so `:archives` from the purge view lands on the archives."""
        while len(self.screen_stack) > 1 and not self.screen.is_modal:
            self.pop_screen()
        if view == "fleet":
            if self.fleet_settings is None:
                self.notify("no fleet: open the dashboard with --fleet FILE", severity="warning")
            else:
                self.switch_mode("fleet")
            return
        if self.settings.deployment == "" and self.fleet_settings is not None:
            self.notify("open a deployment first (enter on its row)", severity="warning")
            return
        if view == "purge":
            if not self.settings.readonly and not isinstance(self.screen, PurgeScreen):
                self.push_screen(PurgeScreen())
            return
        self.switch_mode(view)

    def action_back(self) -> None:  # type: ignore[override]  # Textual runs synchronous actions too
        if len(self.screen_stack) > 1:
            self.pop_screen()
        elif self.current_mode not in ("archives", "fleet"):
            self.switch_mode("archives")
        elif self.current_mode == "archives" and self.fleet_settings is not None:
            self.switch_mode("fleet")

    def action_refresh(self) -> None:
        self.refresh_state()
        self.notify("refreshing", timeout=2)

    def action_help(self) -> None:
        """Generated from the bindings in force: this view's keys first, then the app's, by their shown names."""
        rows: list[tuple[str, str]] = []
        own = {binding.key for binding in VaultApp.BINDINGS if isinstance(binding, Binding)}
        active = [  # vaultui's keys: the screens' and the app's own, not Textual's defaults (tab, copy)
            item
            for item in self.screen.active_bindings.values()
            if item.binding.description
            and item.enabled
            and item.binding.key
            in (own if item.node is self else {binding.key for binding in _own_bindings(item.node)})
        ]
        for item in sorted(active, key=lambda item: item.node is self):
            key = self.get_key_display(item.binding)
            if (key, item.binding.description) not in rows:
                rows.append((key, item.binding.description))
        rows += [(key, text) for key, text in EXTRA_KEYS if (key, text) not in rows]
        self.push_screen(HelpScreen(rows))

    def action_command_line(self) -> None:
        self.push_screen(
            PromptScreen(
                ":",
                "archives, runs, compliance, purge, help, quit",
                "command-line",
                completions=COMMANDS,
            ),
            self.run_command,
        )

    def run_command(self, text: str | None) -> None:
        if not text:
            return
        word = text.strip().lstrip(":").lower()
        matches = [name for name in COMMANDS if name.startswith(word)]
        if word not in ALIASES and len(matches) == 1:
            word = matches[0]  # a unique prefix completes: :comp is :compliance
        if word in ("q", "quit"):
            self.action_quit()
        elif word in ("help", "h", "?"):
            self.action_help()
        elif word in ALIASES:
            self.action_switch_view(ALIASES[word])
        else:
            self.notify(f"unknown command :{word} (try :help)", severity="warning")

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for view in ("archives", "runs", "compliance", "purge"):
            yield SystemCommand(
                f"Show {view}", f"Open the {view} view", lambda view=view: self.action_switch_view(view)
            )
        actions = [
            ("Restore the selected archive", "Preview, then a typed confirmation", "restore", self.action_restore),
            (
                "Restore to a time",
                "Base archive + oplog, to the second",
                "restore_to_time",
                self.action_restore_to_time,
            ),
            ("Back up now", "Dump VAULTUI_MONGO_URI into a new archive", "backup", self.action_backup),
            ("Verify the selected archive", "Read it whole against its manifest", "verify", self.action_verify),
            ("Drill", "Restore the latest good archive into scratch databases", "drill", self.action_drill),
            ("Hold or release the selected archive", "Keep it from retention", "hold", self.action_hold),
            ("Refresh", "Reload the storage's state", "refresh", self.action_refresh),
        ]
        for title, help_text, name, callback in actions:
            if self.check_action(name, ()):
                yield SystemCommand(title, help_text, callback)

    def on_key(self, event: events.Key) -> None:
        """A key of a hidden read-only action reaches here unhandled: say why nothing happens."""
        if not self.settings.readonly:
            return
        for node in (self.screen, self):
            for binding in node.BINDINGS:
                if isinstance(binding, Binding) and event.key in binding.key.split(","):
                    action = binding.action.removeprefix("app.")
                    name, _, parameter = action.partition("(")
                    key = f"{name}:{parameter.strip(')').strip(chr(39))}" if parameter else name
                    if key in DANGEROUS:
                        self.notify(f"read-only (--readonly): {binding.description.lower()} is off", severity="warning")
                        event.stop()
                        return

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        name = action if not parameters else f"{action}:{parameters[0]}"
        if self.settings.readonly and name in DANGEROUS:
            return False  # hidden from the footer and refused, like k9s in read-only mode
        return True

    # ---- actions on the selected archive -----------------------------------------------------------

    def selected_archive(self) -> ArchiveEntry | None:
        screen = self.screen
        entry = screen.selected if isinstance(screen, ArchivesScreen) else None
        if entry is None:
            self.notify("select an archive first", severity="warning")
        return entry

    def start_action(
        self, action: str, work: ActionWork, *, on_done: Callable[[ActionFinished], None] | None = None
    ) -> bool:
        """Runs one long action in a worker: the app alone owns `busy` (set here, cleared when the action's
        ActionFinished is handled); the worker only posts messages. False when it could not start."""
        if self.storage is None:
            self.notify(self.state_error or "no storage", severity="error")
            return False
        if self.busy:
            self.notify(f"{self.busy} is still running", severity="warning")
            return False
        self.busy = action
        self.work_progress = None
        self.cancel_requested.clear()
        self.action_worker(action, work, on_done)
        self.refresh_status_lines()
        return True

    @work(thread=True, group="action", exit_on_error=False)
    def action_worker(self, action: str, work: ActionWork, on_done: Callable[[ActionFinished], None] | None) -> None:
        worker_thread = threading.current_thread()

        def report(progress: Progress) -> None:
            # A cancel unwinds the run from its own thread (as ctrl-c does the CLI's), at a progress report:
            # a point between batches, never inside a write.
            if self.cancel_requested.is_set() and threading.current_thread() is worker_thread:
                raise Cancelled
            self.post_message(WorkProgressed(progress))

        try:
            ok, text, value = work(report)
        except VaultError as error:
            self.post_message(ActionFinished(action, False, str(error), None, on_done))
            return
        except Cancelled:
            text = f"{action} cancelled at a safe point and recorded as interrupted; nothing it had not finished counts"
            self.post_message(ActionFinished(action, False, text, None, on_done))
            return
        self.post_message(ActionFinished(action, ok, text, value, on_done))

    # ---- quitting --------------------------------------------------------------------------------------

    def action_quit(self) -> None:  # type: ignore[override]  # Textual runs synchronous actions too
        """Quits at once when nothing runs; with work running, asks (never vanishes with a restore going on)."""
        if not self.busy:
            self.exit()
            return
        if isinstance(self.screen, QuitWhileBusyScreen):
            return
        self.push_screen(QuitWhileBusyScreen(self.busy, self.progress_text()), self.quit_chosen)

    def quit_chosen(self, choice: str | None) -> None:
        if not self.busy:  # it ended while the question was open
            self.exit(message=self.last_outcome or None)
            return
        if choice in ("wait", "cancel"):
            self.quit_when_done = True
            if choice == "cancel":
                self.cancel_requested.set()
            self.refresh_status_lines()

    def progress_text(self) -> str:
        """The running action in a few words: what, how far, the ETA (the header and the quit question)."""
        if not self.busy:
            return ""
        progress = self.work_progress
        text = self.busy
        if progress is not None:
            fraction = progress.fraction
            text += f" {progress.phase}" if progress.phase != self.busy else ""
            text += f" {fraction:.0%}" if fraction is not None else ""
            text += f", {progress.done_documents:,} docs"
            if progress.eta_seconds is not None:
                text += f", ETA {duration_text(progress.eta_seconds)}"
        else:
            text += " starting…"  # before its first progress report: never a bare word that looks stuck
        if self.cancel_requested.is_set():
            text += " (cancelling…)"
        elif self.quit_when_done:
            text += " (quitting when it ends)"
        return text

    def refresh_status_lines(self) -> None:
        if isinstance(self.screen, FleetScreen):
            self.screen.show_busy()
        for screen in self.screen_stack:
            for line in screen.query(StatusLine):
                line.show(self)

    def action_restore(self) -> None:
        entry = self.selected_archive()
        if entry is not None and self.storage is not None:
            self.push_screen(RestoreScreen(entry))

    def action_restore_to_time(self) -> None:
        """Asks for a time (the newest restorable second is offered), then the restore flow plans from it."""
        if self.storage is None:
            return
        coverage = self.summary.coverage if self.summary is not None else None
        newest = coverage.newest_to_the_second if coverage is not None else None
        newest_text = f"{newest:%Y-%m-%dT%H:%M:%SZ}" if newest else ""
        self.push_screen(
            PromptScreen(
                "Restore to (UTC or oplog T:I; newest restorable filled in):",
                "2026-11-25T14:32:05Z",
                value=newest_text,
            ),
            self.restore_to,
        )

    def restore_to(self, text: str | None) -> None:
        if text is None:
            return  # cancelled
        if not text.strip():
            self.notify("a restore to a time needs the time", title="Restore", severity="warning")
            return
        self.push_screen(RestoreScreen(None, to_time=text.strip()))

    def action_backup(self) -> None:
        if not self.settings.source_uri:
            self.notify("set VAULTUI_MONGO_URI to the MongoDB to back up", title="Backup", severity="error")
            return
        storage, settings = self.storage, self.settings

        def backup(progress: ProgressCallback) -> tuple[bool, str, object]:
            assert storage is not None
            options = backup_options(settings.resolved)
            result = run_backup(storage, settings.source_uri, options, progress=progress, clock=settings.clock)
            return True, f"backup {result.manifest.archive}: {result.manifest.documents} documents", result

        if self.start_action("backup", backup):
            self.notify("backup started", title="Backup")

    def action_verify(self) -> None:
        entry = self.selected_archive()
        if entry is None:
            return
        storage, clock = self.storage, self.settings.clock

        def verify(progress: ProgressCallback) -> tuple[bool, str, object]:
            assert storage is not None
            report = verify_and_record(storage, entry, progress=progress, clock=clock, keyless=True)
            text = f"{entry.name}: " + ("verified" if report.ok else "FAILED: " + "; ".join(report.problems))
            return report.ok, text, report

        self.start_action("verify", verify)

    def action_drill(self) -> None:
        if not self.settings.drill_uri:
            self.notify("set VAULTUI_DRILL_URI (or VAULTUI_TARGET_URI) for drills", title="Drill", severity="error")
            return
        storage, settings = self.storage, self.settings

        def drill(progress: ProgressCallback) -> tuple[bool, str, object]:
            assert storage is not None
            result = run_drill(
                storage, settings.drill_uri, rto_seconds=settings.rto_seconds, progress=progress, clock=settings.clock
            )
            return (
                True,
                f"drill of {result.archive}: {result.documents} documents "
                f"checked in {result.duration_seconds:.1f}s (RTO {verdict(result.rto_met)})",
                result,
            )

        if self.start_action("drill", drill):
            self.notify("drill started: restoring the latest good archive into scratch databases", title="Drill")

    def action_hold(self) -> None:
        entry = self.selected_archive()
        if entry is None:
            return
        storage, clock = self.storage, self.settings.clock

        def release(_: ProgressCallback) -> tuple[bool, str, object]:
            assert storage is not None
            return True, f"released the hold on {entry.name}", release_hold(storage, entry.name)

        def hold(reason: str) -> ActionWork:
            def place(_: ProgressCallback) -> tuple[bool, str, object]:
                assert storage is not None
                return True, f"held {entry.name}: {reason}", place_hold(storage, entry.name, reason, clock=clock)

            return place

        if entry.held:
            body = f"{entry.name} will become subject to retention again (it may be purged)."

            def answered(yes: bool | None) -> None:
                if yes:
                    self.start_action("unhold", release)

            self.push_screen(ConfirmScreen("Release hold?", body, "Unhold"), answered)
        else:
            self.push_screen(
                PromptScreen(f"Hold {entry.name}: reason?", "incident 2026-11-02"),
                lambda reason: self.hold_with(reason, hold),
            )

    def hold_with(self, reason: str | None, hold: Callable[[str], ActionWork]) -> None:
        if reason is None:
            return  # cancelled
        if not reason.strip():
            self.notify("a hold needs a reason: nothing was held", title="Hold", severity="warning")
            return
        self.start_action("hold", hold(reason.strip()))

    @on(WorkProgressed)
    def progressed(self, message: WorkProgressed) -> None:
        progress = message.progress
        self.work_progress = progress
        self.refresh_status_lines()
        if isinstance(self.screen, QuitWhileBusyScreen):
            self.screen.show_progress(self.progress_text())
        if isinstance(self.screen, ArchivesScreen):
            fraction = progress.fraction
            shown = f" {fraction:.0%}" if fraction is not None else ""
            self.screen.flash(f"{progress.phase}{shown}: {progress.done_documents} documents {progress.current}")

    @on(ActionFinished)
    def finished(self, message: ActionFinished) -> None:
        self.busy = None  # the one place an action's busy state ends
        self.work_progress = None
        self.last_outcome = f"vaultui: {message.action}: {message.text}"
        if self.quit_when_done:  # asked to quit once it ended: the terminal gets the outcome line
            self.exit(message=self.last_outcome)
            return
        if isinstance(self.screen, QuitWhileBusyScreen):
            self.screen.dismiss("keep")
        self.refresh_status_lines()
        if message.on_done is not None:
            message.on_done(message)
        self.notify(
            message.text,
            title=message.action.capitalize(),
            severity="information" if message.ok else "error",
            timeout=4 if message.ok else 8,  # short: toasts stack over the table
        )
        if isinstance(self.screen, ArchivesScreen):
            self.screen.flash("")
        self.refresh_state()


def _own_bindings(node: object) -> list[Binding]:
    """The bindings a vaultui screen declares itself (Textual's Screen adds tab and copy to every one)."""
    return [binding for binding in type(node).__dict__.get("BINDINGS", []) if isinstance(binding, Binding)]


def screen_settled(screen: Screen[Any]) -> bool:
    if getattr(screen, "loading_data", False):
        return False
    # DataTable measures new rows when its message queue is idle; until then its layout is provisional.
    return not any(
        table._require_update_dimensions or table._new_rows or table._updated_cells for table in screen.query(DataTable)
    )


def make_app(settings: AppSettings, fleet: FleetSettings | None = None) -> VaultApp:
    """The one way to build the app, for the entry point and the tests alike; with a fleet it opens on it."""
    return VaultApp(settings, fleet)
