"""The restore flow for one archive: target, scope, mode; a verified preview; a typed confirmation naming
the target; then live progress and the result against the RTO.

Long because it is one flow with three targets (a URI, a pod through a Job, a point in time) that share the
form, the preview and the confirmation."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Button, DataTable, Input, Label, ProgressBar, RadioButton, RadioSet, Static

from engine.archive.catalog import ArchiveEntry
from engine.common.config import split_list
from engine.common.errors import KubernetesError, VaultError
from engine.common.namespaces import NamespaceFilter
from engine.common.progress import Progress
from engine.common.redact import redact_uri
from engine.common.remap import build_renames
from engine.common.states import RestoreAction, RestoreMode
from engine.kube.cluster import JobOutcome, MongoPod, connect, list_mongodb_pods
from engine.kube.pod_restore import restore_into_pod
from engine.pitr.plan import PointInTime, plan_point_in_time
from engine.pitr.store import timestamp_time
from engine.restore.request import RestoreRequest
from engine.restore.result import RestoreResult
from engine.restore.run import run_restore
from engine.restore.to_time import restore_to_time, to_time_request
from engine.run_options import restore_request
from vaultui.formatting import against_rto
from vaultui.messages import ActionFinished, WorkProgressed
from vaultui.screens.base import VaultScreen
from vaultui.screens.dialogs import TypedConfirmScreen
from vaultui.widgets.footer import VaultFooter
from vaultui.widgets.table import VaultTable

if TYPE_CHECKING:
    from engine.common.progress import ProgressCallback


class PodsLoaded(Message):
    def __init__(self, pods: list[MongoPod], text: str) -> None:
        super().__init__()
        self.pods, self.text = pods, text


class PreviewFinished(Message):
    """A verified dry run ended: its result, or the error that stopped it."""

    def __init__(
        self,
        result: RestoreResult | None,
        error: str,
        target: str,
        then_confirm: bool,
        plan: PointInTime | None = None,
    ) -> None:
        super().__init__()
        self.result, self.error, self.target, self.then_confirm = result, error, target, then_confirm
        self.plan = plan


class JobProgressed(Message):
    """A restore Job into a pod: started (`final` False), ended with an `outcome`, or failed with `text`."""

    def __init__(self, pod: str, outcome: JobOutcome | None, text: str = "", final: bool = True) -> None:
        super().__init__()
        self.pod, self.outcome, self.text, self.final = pod, outcome, text, final


def find_pods(context: str | None, namespace: str | None) -> tuple[list[MongoPod], str]:
    """The MongoDB pods and a line about them, or how to configure Kubernetes."""
    try:
        target = connect(context, namespace)
        pods = list_mongodb_pods(target)
    except KubernetesError as error:
        return [], f"Kubernetes pods: {error}"
    if not pods:
        return [], f"Kubernetes pods: no MongoDB StatefulSet in {target.context}/{target.namespace}"
    return pods, f"Kubernetes pods in {target.context}/{target.namespace}: restored through a Job in the cluster"


class RestoreScreen(VaultScreen):
    BINDINGS = [Binding("escape", "app.back", "Back"), Binding("f5", "preview", "Preview")]  # ctrl+p is the palette

    def __init__(self, entry: ArchiveEntry | None, to_time: str | None = None) -> None:
        """One archive, or (`to_time`) a point in time: then the preview chooses the base archive and the
        oplog chunks, and checks them, before anything can be confirmed."""
        super().__init__()
        self.entry = entry
        self.to_time = to_time
        self.plan: PointInTime | None = None

    @property
    def subject(self) -> str:
        return f"to {self.to_time}" if self.to_time else self.entry.name if self.entry else "?"

    def compose(self) -> ComposeResult:
        targets = self.vault.settings.targets
        with VerticalScroll(id="restore-form"):
            if self.entry is not None:
                yield Static(
                    f"[b]Restore {self.entry.name}[/b]  ({self.entry.status}, taken "
                    f"{self.entry.ref.time:%Y-%m-%d %H:%M} UTC)",
                    classes="view-title",
                )
            else:
                yield Static(
                    f"[b]Restore to {self.to_time}[/b]  (the preview picks the base archive and the oplog)",
                    classes="view-title",
                )
            with Horizontal(classes="restore-row"):
                with Vertical(classes="restore-column"):
                    yield Label("Target")
                    with RadioSet(id="target"):
                        for index, name in enumerate(targets):
                            yield RadioButton(self.vault.settings.target_label(name), value=index == 0, name=name)
                    if not targets:
                        yield Static(
                            "[red]no saved target[/red]: set VAULTUI_TARGET_URI or VAULTUI_TARGETS='name=mongodb://…;…'"
                        )
                    yield Static("Kubernetes pods: looking…", id="pods")
                with Vertical(classes="restore-column"):
                    yield Label("Mode")
                    with RadioSet(id="mode"):
                        yield RadioButton("guarded (refuses)", value=True, name="guarded", id="mode-guarded")
                        yield RadioButton("drop (replace)", name="drop", id="mode-drop")
                    yield Label("Scope (empty: all)")
                    # Filled from the settings in force (--db, --ns-include), as the CLI restore applies them. The
                    # placeholders are short: at 60 columns a field shows about 20 characters.
                    settings = self.vault.settings.resolved
                    yield Input(", ".join(settings.db), placeholder="databases: a,b", id="databases")
                    patterns = ", ".join(settings.ns_include)
                    yield Input(patterns, placeholder="only: sales.*", id="include")
                    yield Label("Rename (from, to)")
                    with Horizontal(classes="remap"):
                        yield Input(placeholder="a.*", id="ns-from")
                        yield Input(placeholder="a_copy.*", id="ns-to")
            yield Static("", id="restore-result")
            yield VaultTable(id="restore-plan", cursor_type="row")
            yield ProgressBar(id="restore-progress", show_eta=True)
        # Outside the scrolling form, docked: the buttons stay on screen at 80×24 and 60×20.
        with Horizontal(id="restore-buttons"):
            yield Button("Preview", id="preview", compact=True)
            yield Button("Restore…", id="restore", variant="error", disabled=not targets, compact=True)
        yield VaultFooter()

    AUTO_FOCUS = "#target"

    def on_mount(self) -> None:
        self.query_one("#restore-plan", DataTable).add_columns("From", "To", "Documents", "Target now", "Action")
        self.query_one("#restore-progress", ProgressBar).display = False
        self.load_pods()

    @work(thread=True, exclusive=True, group="pods", exit_on_error=False)
    def load_pods(self) -> None:
        settings = self.vault.settings
        self.post_message(PodsLoaded(*find_pods(settings.kube_context, settings.kube_namespace)))

    @on(PodsLoaded)
    def pods_loaded(self, message: PodsLoaded) -> None:
        self.query_one("#pods", Static).update(message.text)
        targets = self.query_one("#target", RadioSet)
        for pod in message.pods:
            state = "ready" if pod.ready else pod.phase
            targets.mount(
                RadioButton(
                    f"pod {pod.name}  ({pod.statefulset}, {state})", name=f"pod:{pod.name}", id=f"target-pod-{pod.name}"
                )
            )
        if message.pods:
            self.query_one("#restore", Button).disabled = False

    @on(RadioSet.Changed, "#mode")
    @on(RadioSet.Changed, "#target")
    @on(Input.Changed)
    def form_changed(self) -> None:
        """A preview made for other choices says nothing of these: cleared, and said so (F5 previews again)."""
        table = self.query_one("#restore-plan", DataTable)
        if table.row_count and not self.vault.busy:
            table.clear()
            self.query_one("#restore-result", Static).update(
                Text("the choices changed since the preview: F5 previews again", style="yellow")
            )

    def request(self, dry_run: bool, across_restores: bool = False) -> RestoreRequest:
        """What the form asks for; aimed at the screen's time when it restores to one (the plan picks the base)."""
        mode_button = self.query_one("#mode", RadioSet).pressed_button
        renames = build_renames(
            [value] if (value := self.query_one("#ns-from", Input).value.strip()) else None,
            [value] if (value := self.query_one("#ns-to", Input).value.strip()) else None,
        )
        settings = self.vault.settings.resolved
        request = restore_request(
            settings,
            archive=self.entry.name if self.entry else None,
            latest=self.entry is None,
            namespaces=NamespaceFilter(
                databases=split_list(self.query_one("#databases", Input).value),
                include=split_list(self.query_one("#include", Input).value),
                exclude=settings.ns_exclude,  # the form has no field for them: the settings' stay in force
            ),
            renames=renames,
            mode=mode_button.name if mode_button and mode_button.name else "guarded",
            dry_run=dry_run,
        )
        if self.to_time:
            return to_time_request(request, self.to_time, across_restores=across_restores)
        return request

    def target_name(self) -> str | None:
        button = self.query_one("#target", RadioSet).pressed_button
        return button.name if button is not None else None

    @on(Button.Pressed, "#preview")
    def action_preview(self) -> None:
        self.start(dry_run=True)

    @on(Button.Pressed, "#restore")
    def restore_pressed(self) -> None:
        name = self.target_name()
        if name and name.startswith("pod:"):
            self.confirm_pod(name.removeprefix("pod:"))
        else:
            self.start(dry_run=True, then_confirm=True)

    def confirm_pod(self, pod: str) -> None:
        try:
            request = self.request(dry_run=False)  # to a time: the Job plans and checks where it runs
            request.validate()
        except VaultError as error:
            self.notify(str(error), severity="error")
            return
        mode = {
            "drop": "[b red]drop and replace[/b red] the restored collections",
            "guarded": "refuse if the pod's database holds data",
        }.get(request.mode, request.mode)
        checks = (
            "plans the base archive and the oplog up to that time and checks them" if self.to_time
            else "verifies the archive"
        )  # fmt: skip
        body = (
            f"Restore {self.subject} into pod [b]{pod}[/b] through a Kubernetes Job.\n"
            f"The Job {checks} first, then will {mode}.\n"
            f"It keeps running in the cluster if this terminal goes away."
        )
        self.app.push_screen(
            TypedConfirmScreen("Restore into a pod?", body, pod), lambda yes: self.pod_confirmed(yes, pod, request)
        )

    def pod_confirmed(self, yes: bool | None, pod: str, request: RestoreRequest) -> None:
        if not yes:
            return
        settings = self.vault.settings

        def started(name: str) -> None:
            self.post_message(JobProgressed(pod, None, f"Job {name} started; following it…", final=False))

        def into_pod(_: ProgressCallback) -> tuple[bool, str, object]:
            target = connect(settings.kube_context, settings.kube_namespace)
            outcome = restore_into_pod(target, pod, request, poll=1.0, on_started=started)
            verdict_text = "completed" if outcome.succeeded else f"FAILED ({outcome.reason})"
            return outcome.succeeded, f"restore Job {outcome.name} into pod {pod}: {verdict_text}", outcome

        def done(message: ActionFinished) -> None:
            outcome = message.value if isinstance(message.value, JobOutcome) else None
            self.post_message(JobProgressed(pod, outcome, message.text))

        if self.vault.start_action("restore", into_pod, on_done=done):
            self.query_one("#restore-result", Static).update(f"starting a restore Job for pod {pod}…")

    @on(JobProgressed)
    def job_progressed(self, message: JobProgressed) -> None:
        result = self.query_one("#restore-result", Static)
        if message.outcome is None:
            result.update(Text(message.text, style="bold red" if message.final else "yellow"))
            return
        outcome = message.outcome
        text = f"restore Job {outcome.name} into pod {message.pod}: " + (
            "completed" if outcome.succeeded else f"FAILED ({outcome.reason})"
        )
        if outcome.logs:
            text += "\n" + outcome.logs.rstrip()
        result.update(Text(text, style="bold green" if outcome.succeeded else "bold red"))

    def start(self, dry_run: bool, then_confirm: bool = False) -> None:
        name = self.target_name()
        if name is None:
            self.notify("choose a target", severity="warning")
            return
        try:
            request = self.request(dry_run)
        except VaultError as error:
            self.notify(str(error), severity="error")
            return
        self.query_one("#restore-result", Static).update("verifying the archive…")
        self.preview_worker(request, name, then_confirm)

    @work(thread=True, exclusive=True, group="restore-preview", exit_on_error=False)
    def preview_worker(self, request: RestoreRequest, target: str, then_confirm: bool) -> None:
        """A dry run: verifies the archive and reads the target; changes nothing, so it needs no busy state.
        For a point in time it first plans: the base archive, and every oplog chunk read and checked."""
        vault = self.vault
        assert vault.storage is not None
        plan = None
        uri, clock = vault.settings.targets[target], vault.settings.clock

        def progress(done: Progress) -> None:
            self.post_message(WorkProgressed(done))

        try:
            if request.to_time:
                plan = plan_point_in_time(vault.storage, request.to_time, now=vault.now())
                result = restore_to_time(vault.storage, uri, request, plan=plan, progress=progress, clock=clock)
            else:
                result = run_restore(vault.storage, uri, request, progress=progress, clock=clock)
        except VaultError as error:
            self.post_message(PreviewFinished(None, str(error), target, then_confirm))
            return
        self.post_message(PreviewFinished(result, "", target, then_confirm, plan))

    def failed(self, error: str) -> None:
        self.query_one("#restore-progress", ProgressBar).display = False
        self.query_one("#restore-result", Static).update(Text(error, style="bold red"))

    @on(PreviewFinished)
    def previewed(self, message: PreviewFinished) -> None:
        if message.result is None:
            self.failed(message.error)
            self.notify(message.error, title="Restore", severity="error", timeout=10)
            return
        result, target = message.result, message.target
        table = self.query_one("#restore-plan", DataTable)
        self.plan = message.plan
        table.clear()
        drop = self.query_one("#mode", RadioSet).pressed_button
        dropping = drop is not None and drop.name == "drop"
        for item in result.plan:
            action = item.action(RestoreMode.DROP if dropping else RestoreMode.GUARDED)
            style = "bold red" if action != RestoreAction.RESTORE else "green"
            shown = "REFUSED" if action == RestoreAction.REFUSE else str(action)
            table.add_row(
                item.source, item.target, str(item.documents), str(item.target_documents), Text(shown, style=style)
            )
        summary = f"{result.archive} verified; {len(result.plan)} namespaces"
        if self.plan is not None:
            chunks = len(self.plan.chunks)
            summary = (
                f"to {timestamp_time(self.plan.until):%Y-%m-%d %H:%M:%S} UTC: base {summary}, then "
                f"{self.plan.entries} oplog entries from {chunks} chunk{'s' if chunks != 1 else ''} (checked)"
            )
        warned = False
        if self.plan is not None and (interference := self.plan.interference()):
            summary += f"\nWARNING: {interference} (confirming the restore below goes on)"
            warned = True
        if self.plan is not None and self.plan.caveats:
            summary += "".join(f"\nWARNING: {caveat}" for caveat in self.plan.caveats)
        refused = [item.target for item in result.plan if item.action(RestoreMode.GUARDED) == RestoreAction.REFUSE]
        if refused and not dropping:
            # The dashboard's words, not the CLI's flags: what to change here for the restore to go through.
            summary += (
                f"\nREFUSED: the target holds data in {len(refused)} of them ({', '.join(refused[:3])}). Nothing "
                "will change. Choose the mode 'drop' to replace them, or rename (from/to) into new databases."
            )
        self.query_one("#restore-result", Static).update(
            Text(summary, style="bold red" if (refused and not dropping) or warned else "")
        )
        if message.then_confirm and not (refused and not dropping):
            self.confirm(result, target, dropping)

    def restored(self, message: ActionFinished, target: str) -> None:
        """The real restore ended (the app has shown its one line): the details go to the result panel, when
        it is still open (one may leave it while the restore runs: the app's notification is then the result)."""
        if not self.is_attached:
            return
        result = message.value
        if not isinstance(result, RestoreResult):
            self.failed(message.text)
            return
        self.query_one("#restore-progress", ProgressBar).display = False
        to = ""
        if self.plan is not None:
            to = f" and replayed {self.plan.entries} oplog entries up to {timestamp_time(self.plan.until):%H:%M:%S} UTC"
        text = (
            f"restored {result.archive}{to} into {target}: {result.documents} documents, {result.indexes} indexes, "
            + against_rto(result.duration_seconds, result.rto_seconds, result.rto_met)
        )
        if self.plan is not None and not self.plan.faithful:
            text += f"\n{self.plan.outcome()}"
        good = result.rto_met and not result.indexes_refused and (self.plan is None or self.plan.faithful)
        if result.indexes_refused:
            text += f"\n{len(result.indexes_refused)} indexes refused by the target (every other index was built):"
            text += "".join(f"\n  {ns} {name}: {why}" for ns, name, why in result.indexes_refused[:8])
        if result.index_changes:
            text += f"\n{len(result.index_changes)} legacy index specs normalised (see the run's ledger record)"
        if result.not_restored:
            text += "".join(f"\nnot restored: {item}" for item in result.not_restored[:5])
        self.query_one("#restore-result", Static).update(Text(text, style="bold green" if good else "bold red"))

    def confirm(self, preview: RestoreResult, target: str, dropping: bool) -> None:
        replaced = [item for item in preview.plan if item.target_documents]
        what = preview.archive
        if self.plan is not None:
            what = f"to {timestamp_time(self.plan.until):%Y-%m-%d %H:%M:%S} UTC ({preview.archive} + oplog)"
        lines = [f"Restore {what} into [b]{target}[/b] ({redact_uri(self.vault.settings.targets[target])})", ""]
        if replaced and dropping:
            lines.append("[b red]These collections will be DROPPED and replaced:[/b red]")
            lines += [f"  {item.target} ({item.target_documents} documents now)" for item in replaced[:10]]
        if self.plan is not None and (interference := self.plan.interference()):
            words = escape(interference.replace("confirm (--across-restores)", "confirm here"))
            lines += [f"[b red]WARNING:[/b red] {words}", ""]
        landing = sorted({item.target.split(".", 1)[0] for item in preview.plan})
        lines.append(
            f"\n{len(preview.plan)} namespaces, {sum(item.documents for item in preview.plan)} documents, "
            f"landing in database{'s' if len(landing) != 1 else ''} {', '.join(landing[:6])}."
        )
        self.app.push_screen(
            TypedConfirmScreen("Restore?", "\n".join(lines), target), lambda yes: self.confirmed(yes, target)
        )

    def confirmed(self, yes: bool | None, target: str) -> None:
        if not yes:
            return
        # The typed confirmation showed the restores within the stretch: it is the confirmation.
        vault, request, plan = self.vault, self.request(dry_run=False, across_restores=True), self.plan

        def restore(progress: ProgressCallback) -> tuple[bool, str, object]:
            assert vault.storage is not None
            uri, clock = vault.settings.targets[target], vault.settings.clock
            what = result_archive = ""
            if plan is not None:
                result = restore_to_time(vault.storage, uri, request, plan=plan, progress=progress, clock=clock)
                what = (
                    f" to {timestamp_time(plan.until):%Y-%m-%d %H:%M:%S} UTC (base {result.archive} + "
                    f"{plan.entries} oplog entries{'' if plan.faithful else ', NOT FAITHFUL: see the restore screen'})"
                )
            else:
                result = run_restore(vault.storage, uri, request, progress=progress, clock=clock)
                result_archive = f" {result.archive}"
            text = (
                f"restored{result_archive}{what} into {target}: {result.documents} documents "
                + against_rto(result.duration_seconds, result.rto_seconds, result.rto_met)
                + (f", {len(result.indexes_refused)} indexes refused" if result.indexes_refused else "")
            )
            return result.rto_met and not result.indexes_refused, text, result

        if vault.start_action("restore", restore, on_done=lambda message: self.restored(message, target)):
            bar = self.query_one("#restore-progress", ProgressBar)
            bar.update(total=None, progress=0)
            bar.display = True
            self.query_one("#restore-result", Static).update("restoring…")

    @on(WorkProgressed)
    def progressed(self, message: WorkProgressed) -> None:
        progress = message.progress
        bar = self.query_one("#restore-progress", ProgressBar)
        if progress.phase == "restore" and progress.total_documents:
            bar.update(total=progress.total_documents, progress=progress.done_documents)
        self.query_one("#restore-result", Static).update(
            f"{progress.phase}: {progress.done_documents} documents, {progress.done_bytes} bytes — {progress.current}"
        )
