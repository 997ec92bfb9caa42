"""k8s/overlays/example running on a real node: the backup CronJob, the restore-at-start sidecar on a pod that
comes back empty (and on one that comes back with live data), the on-call restore through a Job under the
vaultui-restore identity and its admission policy, the oplog capture and a restore to a second between two
writes, and the purge CronJob on a volume holding 100 days of archives.

The tests share one install and run in file order: each leaves the state the next starts from. The restore to a
time comes before the lost disk: FerretDB keeps an oplog only while the capped local.oplog.rs the set-up Job made
exists, and a lost disk takes it along (as a one-member replica set must be initiated again after one)."""

from __future__ import annotations

import json
import subprocess
import time
from datetime import UTC, datetime, timedelta

import pymongo
import pytest

from engine.archive.catalog import list_archives
from engine.evidence.ledger import list_runs
from engine.storage import open_storage
from tests.cluster.conftest import NAMESPACE, RESULTS, Shop, wait_for
from tests.helpers import run_vaultui

RTO_SECONDS = 600  # the example's VAULTUI_RTO_SECONDS: pod deletion to data served
ORDERS = 500


def vaultui(env: dict[str, str], *arguments: str) -> subprocess.CompletedProcess[str]:
    return run_vaultui("--headless", *arguments, env=env, timeout=600)


def job_from_cronjob(shop: Shop, cronjob: str, name: str) -> dict:
    shop.kubectl("create", "job", f"--from=cronjob/{cronjob}", name)
    return shop.run_job(name, timeout=240)


def test_the_backup_cronjob_leaves_a_verified_archive_and_its_run_record(shop: Shop) -> None:
    with shop.mongo() as client:
        client.shop.orders.insert_many([{"_id": n, "item": f"order {n}", "note": "café ☕"} for n in range(ORDERS)])
        client.shop.customers.insert_one({"_id": "ada", "name": "Ada"})
    # As the schedule would: a Job made from the CronJob's own template (its schedule is nightly).
    job_from_cronjob(shop, "vaultui-backup", "backup-now")
    logs = shop.logs("job/backup-now")
    storage = open_storage(str(shop.backups))
    [archive] = list_archives(storage)
    assert archive.status == "complete", logs
    [run] = list_runs(storage, "backup")
    assert run.result == "success" and run.archive == archive.name, logs
    # Restorable by hand as ever: the archive is a tar the real tools read (checked in the main suite); here,
    # that it holds both collections of the pod's database.
    listing = subprocess.run(["tar", "--zstd", "-tf", str(shop.backups / archive.name)], capture_output=True,
                             text=True, check=True).stdout  # fmt: skip
    assert "shop/orders.bson" in listing and "shop/customers.bson" in listing


def test_the_cronjob_fires_on_its_schedule(shop: Shop) -> None:
    """The controller-manager's CronJob controller starts the Job itself (a schedule of every minute)."""
    before = len(list_archives(open_storage(str(shop.backups))))
    shop.kubectl("patch", "cronjob", "vaultui-backup", "--type=merge", "-p",
                 json.dumps({"spec": {"schedule": "* * * * *"}}))  # fmt: skip
    try:

        def fired_job() -> str | None:
            jobs = json.loads(shop.kubectl("get", "jobs", "-o", "json"))["items"]
            # `kubectl create job --from` marks its Jobs manual; the controller's carry no such mark.
            fired = [job["metadata"]["name"] for job in jobs
                     if any(ref.get("kind") == "CronJob" for ref in job["metadata"].get("ownerReferences", []))
                     and "cronjob.kubernetes.io/instantiate" not in job["metadata"].get("annotations", {})]  # fmt: skip
            return fired[0] if fired else None

        job = wait_for(fired_job, 150, "Job started by the CronJob", lambda: shop.describe("cronjob/vaultui-backup"))
    finally:
        shop.kubectl("patch", "cronjob", "vaultui-backup", "--type=merge", "-p",
                     json.dumps({"spec": {"schedule": "0 0 * * *", "suspend": False}}))  # fmt: skip
    shop.run_job(job, timeout=240)
    assert len(list_archives(open_storage(str(shop.backups)))) == before + 1


def test_the_oplog_capture_lets_a_job_restore_to_a_second_between_two_writes(
    shop: Shop, vaultui_env: dict[str, str]
) -> None:
    storage = open_storage(str(shop.backups))
    # Running, not in a crash-loop's pause: it may have started before the set-up Job made the oplog (exit 12).
    wait_for(lambda: '"oplog.started"' in shop.logs("deployment/vaultui-oplog"), 240, "oplog capture started",
             lambda: shop.describe("deployment/vaultui-oplog"))  # fmt: skip
    # A base after the capture began, so its oplog covers from the base on.
    job_from_cronjob(shop, "vaultui-backup", "backup-before-writes")
    with shop.mongo() as client:
        client.shop.orders.insert_one({"_id": "first", "at": datetime.now(UTC)})
        first = datetime.now(UTC)
        wait_for(lambda: datetime.now(UTC) >= first.replace(microsecond=0) + timedelta(seconds=2), 5, "two seconds on")
        between = first.replace(microsecond=0) + timedelta(seconds=1)
        client.shop.orders.insert_one({"_id": "second", "at": datetime.now(UTC)})

    def captured_past_second() -> bool:
        from engine.pitr.coverage import compute_coverage

        coverage = compute_coverage(storage, list_archives(storage), {}, datetime.now(UTC))
        # Restorable to `between`: the capture holds the first write's second whole (it has seen the second).
        return any(span.start <= between <= span.end for span in coverage.spans)

    wait_for(captured_past_second, 120, "oplog chunks up to the second between the writes",
             lambda: shop.logs("deployment/vaultui-oplog"))  # fmt: skip
    result = vaultui(vaultui_env, "restore", "--to-time", between.isoformat(), "--drop", "--pod", "mongodb-0",
                     "--namespace", NAMESPACE)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    with shop.mongo() as client:
        assert client.shop.orders.find_one({"_id": "first"}) is not None
        assert client.shop.orders.find_one({"_id": "second"}) is None


def test_a_pod_that_comes_back_empty_is_restored_and_one_with_live_data_is_left_alone(shop: Shop) -> None:
    old = shop.get("pod", "mongodb-0")
    assert old is not None
    # The disk is lost: the files go while the server still holds them open, then the pod is deleted.
    for path in list(shop.data.iterdir()):
        path.unlink()
    deleted = time.monotonic()
    shop.kubectl("delete", "pod", "mongodb-0", "--wait=false")
    uid = old["metadata"]["uid"]
    wait_for(lambda: shop.pod_ready("mongodb-0", uid_not=uid), 300, "new MongoDB pod Ready",
             lambda: shop.describe("pod/mongodb-0"))  # fmt: skip
    ready = time.monotonic() - deleted

    def served() -> bool:
        try:
            with shop.mongo() as client:
                return client.shop.orders.count_documents({}) == ORDERS and bool(client.shop.customers.find_one())
        except pymongo.errors.PyMongoError:
            return False

    wait_for(served, RTO_SECONDS, "restored data served", lambda: shop.logs("mongodb-0", "-c", "vaultui-restore"))
    recovered = time.monotonic() - deleted
    RESULTS.append(f"seed's recovery (restore-at-start, {ORDERS + 1} documents): pod deleted → Ready "
                   f"{ready:.1f} s, → data served {recovered:.1f} s; RTO {RTO_SECONDS} s "
                   f"({recovered / RTO_SECONDS:.1%} of it)")  # fmt: skip
    assert recovered < RTO_SECONDS
    # The data is served a moment before the restore's process has ended and the sidecar says so.
    wait_for(lambda: "restore-at-start exited with" in shop.logs("mongodb-0", "-c", "vaultui-restore"), 60,
             "the sidecar's verdict")  # fmt: skip
    sidecar = shop.logs("mongodb-0", "-c", "vaultui-restore")
    assert "restore-at-start exited with 0" in sidecar, sidecar

    # Live data now, newer than any archive: a restart must not write last night's copy over it.
    with shop.mongo() as client:
        client.shop.orders.insert_one({"_id": "live", "item": "written after the restore"})
        client.shop.orders.delete_one({"_id": 0})
    uid = shop.get("pod", "mongodb-0")["metadata"]["uid"]  # type: ignore[index]
    shop.kubectl("delete", "pod", "mongodb-0", "--wait=false")
    wait_for(lambda: shop.pod_ready("mongodb-0", uid_not=uid), 300, "MongoDB pod Ready again")
    wait_for(lambda: "restore-at-start exited with" in shop.logs("mongodb-0", "-c", "vaultui-restore"), 120,
             "the sidecar's verdict")  # fmt: skip
    sidecar = shop.logs("mongodb-0", "-c", "vaultui-restore")
    with shop.mongo() as client:
        assert client.shop.orders.find_one({"_id": "live"}) is not None, sidecar
        assert client.shop.orders.find_one({"_id": 0}) is None, sidecar
        assert client.shop.orders.count_documents({}) == ORDERS, sidecar


def test_the_on_call_restore_runs_as_a_job_under_the_restore_identity(shop: Shop, vaultui_env: dict[str, str]) -> None:
    with shop.mongo() as client:
        client.shop.orders.insert_one({"_id": "after the archives", "item": "gone after the restore"})
    storage = open_storage(str(shop.backups))
    newest = list_archives(storage)[-1]
    started = time.monotonic()
    result = vaultui(vaultui_env, "restore", "--date", f"{newest.ref.time:%Y-%m-%d}", "--drop", "--pod", "mongodb-0",
                     "--namespace", NAMESPACE)  # fmt: skip
    took = time.monotonic() - started
    assert result.returncode == 0, result.stdout + result.stderr
    # It follows the Job to its end and shows the Job's own report, the RTO verdict among it.
    assert "RTO target 10m00s: met" in result.stdout and "completed" in result.stdout, result.stdout
    said = result.stdout.strip().splitlines()[-1][:160] if result.stdout.strip() else ""
    RESULTS.append(f"on-call restore (restore --pod through a Job): {took:.1f} s from the command to its report; "
                   f"it said: {said}")  # fmt: skip
    with shop.mongo() as client:
        assert client.shop.orders.find_one({"_id": "after the archives"}) is None
        assert client.shop.orders.count_documents({}) == ORDERS
    jobs = json.loads(shop.kubectl("get", "jobs", "-l", "app.kubernetes.io/component=restore", "-o", "json"))["items"]
    assert jobs and all(job["spec"]["template"]["spec"]["serviceAccountName"] == "vaultui-restore-job" for job in jobs)


async def test_the_dashboard_restores_into_the_pod_through_a_job(
    shop: Shop, vaultui_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The on-call engineer at the dashboard: the restore screen lists the StatefulSet's pod (a FerretDB image,
    found by its MongoDB port), the pod target with drop mode and the typed confirmation starts the Job under
    the restore identity, and the screen reports it completed."""
    from textual.widgets import RadioButton, Static

    from engine.sla.retention import RetentionPolicy
    from tests.helpers import settle
    from vaultui.app import make_app
    from vaultui.screens.dialogs import TypedConfirmScreen
    from vaultui.screens.restore import RestoreScreen
    from vaultui.settings import AppSettings

    monkeypatch.setenv("KUBECONFIG", vaultui_env["KUBECONFIG"])
    with shop.mongo() as client:
        client.shop.orders.insert_one({"_id": "before the dashboard's restore"})
    settings = AppSettings(storage_url=str(shop.backups), targets={}, refresh_seconds=0, kube_namespace=NAMESPACE,
                           policy=RetentionPolicy(max_age_days=90))  # fmt: skip
    app = make_app(settings)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        await pilot.press("r")
        await settle(app, pilot)
        assert isinstance(app.screen, RestoreScreen)
        screen = app.screen
        assert screen.query("#target-pod-mongodb-0"), str(screen.query_one("#pods", Static).render())
        screen.query_one("#target-pod-mongodb-0", RadioButton).value = True
        screen.query_one("#mode-drop", RadioButton).value = True
        await pilot.click("#restore")
        await settle(app, pilot)
        assert isinstance(app.screen, TypedConfirmScreen)
        await pilot.press(*"mongodb-0", "enter")

        def reported() -> str:
            return str(screen.query_one("#restore-result", Static).render())

        deadline = time.monotonic() + 300
        while "completed" not in reported() and "FAILED" not in reported() and time.monotonic() < deadline:
            await pilot.pause(0.2)
        assert "completed" in reported(), reported()
    with shop.mongo() as client:
        assert client.shop.orders.find_one({"_id": "before the dashboard's restore"}) is None
        assert client.shop.orders.count_documents({}) == ORDERS


def test_a_job_the_policy_must_refuse_is_refused(shop: Shop) -> None:
    """The same identity may create Jobs, but only vaultui's restore Job: one that runs another command (here:
    a shell sending the MongoDB URI elsewhere) is refused by the admission policy, naming the rule."""
    job = {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "vaultui-restore-mongodb-0-evil",
                     "labels": {"app.kubernetes.io/name": "vaultui", "app.kubernetes.io/component": "restore",
                                "vaultui.io/target-pod": "mongodb-0"}},
        "spec": {"template": {
            "metadata": {"labels": {"app.kubernetes.io/name": "vaultui", "app.kubernetes.io/component": "restore",
                                    "vaultui.io/target-pod": "mongodb-0"}},
            "spec": {"serviceAccountName": "vaultui-restore-job", "automountServiceAccountToken": False,
                     "restartPolicy": "Never",
                     "containers": [{"name": "vaultui", "image": "local/vaultui:test",
                                     "command": ["/bin/sh", "-c", "echo $VAULTUI_TARGET_URI"]}]},
        }},
    }  # fmt: skip
    result = subprocess.run([_kubectl_binary(), f"--kubeconfig={shop.restore_kubeconfig}",
                             "-n", NAMESPACE, "create", "-f", "-"], input=json.dumps(job), capture_output=True,
                            text=True)  # fmt: skip
    assert result.returncode != 0
    assert "vaultui-restore-jobs" in result.stderr and "denied" in result.stderr, result.stderr
    assert shop.get("job", "vaultui-restore-mongodb-0-evil") is None


def _kubectl_binary() -> str:
    from tests.bed.node import node_paths

    return f"{node_paths()['VAULTUI_NODE_BIN']}/kubectl"


def test_the_purge_cronjob_applies_retention_to_100_days_of_archives(shop: Shop, tmp_path) -> None:  # type: ignore[no-untyped-def]
    import os

    from tests.bed import servers
    from tests.bed.demo import make_history, seed_sample

    server = servers.start_ferretdb()
    try:
        with pymongo.MongoClient(server.url) as client:
            seed_sample(client, customers=20)
        make_history(str(shop.backups), server.url, datetime.now(UTC), days=100, failed=(), missed=(), late=(),
                     held=95, report=lambda _line: None)  # fmt: skip
    finally:
        server.stop()
    for root, folders, files in os.walk(shop.backups):
        for name in folders + files:
            os.chown(os.path.join(root, name), 10001, 10001)
    storage = open_storage(str(shop.backups))
    horizon = datetime.now(UTC) - timedelta(days=90)
    before = list_archives(storage)
    old = [entry for entry in before if entry.ref.time < horizon - timedelta(days=1)]
    assert len(old) >= 8, [entry.name for entry in before]
    job_from_cronjob(shop, "vaultui-purge", "purge-now")
    after = {entry.name: entry for entry in list_archives(storage)}
    for entry in old:
        if entry.held:
            assert entry.name in after  # the incident hold outlives the policy
        else:
            assert entry.name not in after, shop.logs("job/purge-now")
    assert all(entry.name in after for entry in before if entry.ref.time > horizon + timedelta(days=1))
    newest = list_runs(storage, "purge", limit=1)
    assert newest and newest[0].result == "success", shop.logs("job/purge-now")
