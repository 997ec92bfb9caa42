"""Failed runs that somebody sees: vaultui's alerting rules checked with the real promtool, unit-tested with
input series for every alert (fires when it should, stays quiet when it should), kept in step with the metrics
vaultui really writes, and proven end to end: a real Pushgateway, Prometheus and Alertmanager on loopback, and
a failed backup that reaches a webhook as VaultuiBackupFailed, resolved by the next successful backup."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from engine.evidence.lease import StorageLease
from engine.evidence.ledger import record_run
from engine.storage import open_storage
from tests.bed.monitoring import WebhookReceiver, start_alertmanager, start_prometheus, start_pushgateway
from tests.bed.servers import binary_paths, free_port
from tests.helpers import run_vaultui
from tests.history import capture_history, record
from tests.test_sla_commands import fake_archive

ROOT = Path(__file__).resolve().parents[1]
MONITORING = ROOT / "k8s" / "components" / "monitoring"
RULES = MONITORING / "vaultui-rules.yaml"
IDENTITY = {"deployment": "prod", "namespace": "shop", "storage": "s3://backups/prod"}
WHERE = "prod (shop)"


def promtool(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary_paths()["promtool"]), *arguments], capture_output=True, text=True, check=False)


def rules() -> list[dict[str, Any]]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


def rule_metrics() -> set[str]:
    return {name for rule in rules() for name in re.findall(r"\bvaultui_[a-z_]+", rule["expr"])}


# --- the files --------------------------------------------------------------------------------------------


def test_promtool_accepts_both_rule_files_and_they_say_the_same(tmp_path: Path) -> None:
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout + checked.stderr
    operator = yaml.safe_load((MONITORING / "prometheusrule.yaml").read_text())
    assert operator["kind"] == "PrometheusRule" and operator["apiVersion"] == "monitoring.coreos.com/v1"
    assert operator["spec"] == yaml.safe_load(RULES.read_text())
    spec = tmp_path / "from-prometheusrule.yaml"
    spec.write_text(yaml.safe_dump(operator["spec"]))
    checked = promtool("check", "rules", str(spec))
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_every_alert_pages_with_a_severity_a_summary_naming_the_deployment_and_a_runbook() -> None:
    readme = (ROOT / "README.md").read_text()
    anchors = {re.sub(r"[^a-z0-9 -]", "", line[4:].strip().lower()).replace(" ", "-")
               for line in readme.splitlines() if line.startswith("### ")}  # fmt: skip
    for rule in rules():
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert "{{ $labels.deployment }}" in rule["annotations"]["summary"], rule["alert"]
        anchor = rule["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor == rule["alert"].lower() and anchor in anchors, f"{rule['alert']}: no README section"


def test_the_component_builds_with_the_base(tmp_path: Path) -> None:
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text(
        yaml.safe_dump(
            {
                "apiVersion": "kustomize.config.k8s.io/v1beta1",
                "kind": "Kustomization",
                "namespace": "shop",
                "resources": [os.path.relpath(ROOT / "k8s" / "base", overlay)],  # kustomize takes relative paths
                "components": [
                    os.path.relpath(MONITORING.with_name("oplog-capture"), overlay),
                    os.path.relpath(MONITORING, overlay),
                ],  # fmt: skip
            }
        )
    )
    built = subprocess.run(
        [str(binary_paths()["kustomize"]), "build", "--load-restrictor", "LoadRestrictionsNone", str(overlay)],
        capture_output=True,
        text=True,
        check=True,
    )
    documents = {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(built.stdout)}
    assert ("PrometheusRule", "vaultui") in documents
    dashboard = documents[("ConfigMap", "vaultui-grafana-dashboard")]
    assert dashboard["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert json.loads(dashboard["data"]["grafana-dashboard.json"])["uid"] == "vaultui"
    pods = [documents[("CronJob", name)]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
            for name in ("vaultui-backup", "vaultui-purge")]  # fmt: skip
    for pod in [*pods, documents[("Deployment", "vaultui-oplog")]["spec"]["template"]["spec"]]:
        [container] = pod["containers"]
        env = {item["name"]: item for item in container["env"]}
        assert env["VAULTUI_NOTIFY_WEBHOOK"]["valueFrom"]["secretKeyRef"] == {
            "name": "vaultui-notify", "key": "url", "optional": True}  # fmt: skip
        assert env["VAULTUI_PUSHGATEWAY"]["value"].startswith("http://")
        assert env["VAULTUI_DEPLOYMENT_NAMESPACE"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.namespace"


# --- rules and metrics cannot drift apart -------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_metrics(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What `status --metrics-file` writes for a storage with every kind of run, archives, a live lease and a
    captured oplog: every family vaultui exports, with samples."""
    folder = tmp_path_factory.mktemp("backups")
    storage = open_storage(str(folder))
    now = datetime.now(UTC).replace(microsecond=0)
    for days in range(1, 4):
        record_run(storage, record("backup", now - timedelta(days=days), "success", seconds=40))
        fake_archive(folder, now - timedelta(days=days))
    record_run(storage, record("backup", now - timedelta(hours=1), "failure", error="source unreachable"))
    for kind in ("restore", "drill", "verify", "purge"):
        record_run(storage, record(kind, now - timedelta(hours=3), "success", seconds=50, rto_seconds=600))
    capture_history(folder, now - timedelta(days=2), now - timedelta(minutes=5), None)
    metrics = folder.parent / "vaultui.prom"
    env = {"VAULTUI_STORAGE": str(folder), "VAULTUI_DEPLOYMENT": "prod", "VAULTUI_DEPLOYMENT_NAMESPACE": "shop"}
    with StorageLease(storage, "restore", exclusive=False):  # a live run holding the storage
        done = run_vaultui("--headless", "status", "--metrics-file", str(metrics), env=env)
    assert "Traceback" not in done.stderr, done.stderr
    return {family.name: family for family in text_string_to_metric_families(metrics.read_text())}


def test_every_metric_the_rules_and_unit_tests_use_is_one_vaultui_writes_with_those_labels(
    real_metrics: dict[str, Any],
) -> None:
    written = {name: {frozenset(sample.labels) for sample in family.samples} for name, family in real_metrics.items()}
    assert rule_metrics() <= set(written), f"rules read metrics vaultui does not write: {rule_metrics() - set(written)}"
    for case in CASES:
        for series in case["series"]:
            name, labels = series_labels(series[0])
            assert frozenset(labels) in written.get(name, set()), f"{case['name']}: {series[0]} is not as written"
    for name, label_sets in written.items():
        assert all({"deployment", "namespace", "storage"} <= labels for labels in label_sets), name
    sample = next(iter(real_metrics["vaultui_rto_seconds"].samples))
    assert (sample.labels["deployment"], sample.labels["namespace"]) == ("prod", "shop")


def series_labels(series: str) -> tuple[str, dict[str, str]]:
    name, _, rest = series.partition("{")
    return name, dict(re.findall(r'(\w+)="([^"]*)"', rest))


# --- the unit tests: input series for every alert -----------------------------------------------------------


def s(name: str, values: str, **labels: str) -> tuple[str, str]:
    """An input series with the deployment's labels (and these), in promtool's expanding notation."""
    every = {**IDENTITY, **labels}
    # promtool's notation has no NaN in its expanding form: "NaNx3" is written out as "NaN NaN NaN NaN".
    values = re.sub(r"\bNaNx(\d+)", lambda m: " ".join(["NaN"] * (int(m.group(1)) + 1)), values)
    return f"{name}{{{', '.join(f'{key}={json.dumps(value)}' for key, value in sorted(every.items()))}}}", values


def alert(name: str, summary: str, **labels: str) -> dict[str, Any]:
    [rule] = [rule for rule in rules() if rule["alert"] == name]
    every = {**IDENTITY, **labels}
    description = re.sub(r"\{\{ \$labels\.(\w+) \}\}", lambda m: every[m.group(1)], rule["annotations"]["description"])
    return {
        "exp_labels": {"severity": rule["labels"]["severity"], **every},
        "exp_annotations": {
            "summary": f"{WHERE}: {summary}",
            "description": description,
            "runbook_url": rule["annotations"]["runbook_url"],
        },
    }


NIGHTLY = [s("vaultui_schedule_interval_seconds", "86400x2000"), s("vaultui_backup_grace_seconds", "3600x2000")]
ARCHIVE = "20261201T000000Z.tar.zst"

# Each case: input series (1-minute steps from time 0), then at each eval time the alerts expected ([] quiet).
CASES: list[dict[str, Any]] = [
    {
        "name": "a fresh install with no data: nothing fires",
        "series": [
            *NIGHTLY,
            s("vaultui_compliance_ratio", "NaNx200"),
            s("vaultui_compliance_slots", "0x200", outcome="expected"),
            s("vaultui_rpo_seconds", "NaNx200"),
            s("vaultui_rpo_threshold_seconds", "NaNx200"),
            s("vaultui_restore_duration_seconds", "NaNx200"),
            s("vaultui_restore_forecast_seconds", "NaNx200"),
            s("vaultui_rto_forecast_days", "NaNx200"),
            s("vaultui_rto_seconds", "600x200"),
            s("vaultui_compliance_target_ratio", "0.99x200"),
            s("vaultui_unfinished_writes", "0x200"),
        ],
        "checks": {
            "3h": {
                name: []
                for name in (
                    "VaultuiBackupMissed",
                    "VaultuiComplianceBelowTarget",
                    "VaultuiRpoExceeded",
                    "VaultuiRestoreOverRto",
                    "VaultuiRestoreForecastOverRto",
                    "VaultuiRtoForecastSoon",
                    "VaultuiUnfinishedWritesPiling",
                )
            }
        },  # fmt: skip
    },
    {
        "name": "nightly: missed after the interval plus the grace, resolved by the next success",
        "series": [*NIGHTLY, s("vaultui_last_success_timestamp_seconds", "0x1530 91800x400", archive=ARCHIVE)],
        "checks": {
            "24h": {"VaultuiBackupMissed": []},
            "25h5m": {
                "VaultuiBackupMissed": [
                    alert("VaultuiBackupMissed", "no successful backup for 1d 1h 5m 0s", archive=ARCHIVE)
                ]
            },  # fmt: skip
            "25h40m": {"VaultuiBackupMissed": []},
        },
    },
    {
        "name": "several backups a day: the schedule's 6 h interval, not 24 h",
        "series": [
            s("vaultui_schedule_interval_seconds", "21600x600"),
            s("vaultui_backup_grace_seconds", "1800x600"),
            s("vaultui_last_success_timestamp_seconds", "0x600", archive=ARCHIVE),
        ],
        "checks": {
            "6h20m": {"VaultuiBackupMissed": []},
            "6h40m": {
                "VaultuiBackupMissed": [
                    alert("VaultuiBackupMissed", "no successful backup for 6h 40m 0s", archive=ARCHIVE)
                ]
            },  # fmt: skip
        },
    },
    {
        "name": "a failed backup fires at once, a successful one resolves it",
        "series": [s("vaultui_last_run_success", "1x10 0x10 1x10", kind="backup")],
        "checks": {
            "5m": {"VaultuiBackupFailed": []},
            "15m": {"VaultuiBackupFailed": [alert("VaultuiBackupFailed", "the newest backup failed", kind="backup")]},
            "25m": {"VaultuiBackupFailed": []},
        },
    },
    {
        "name": "compliance below target, after its first backup only",
        "series": [
            s("vaultui_compliance_ratio", "0.9x60"),
            s("vaultui_compliance_target_ratio", "0.99x60"),
            s("vaultui_last_run_timestamp_seconds", "0x60", kind="backup"),
            s("vaultui_compliance_ratio", "0.5x60", deployment="fresh"),
            s("vaultui_compliance_target_ratio", "0.99x60", deployment="fresh"),
        ],
        "checks": {
            "10m": {"VaultuiComplianceBelowTarget": []},
            "20m": {
                "VaultuiComplianceBelowTarget": [
                    alert("VaultuiComplianceBelowTarget", "backup compliance 90%, below target")
                ]
            },  # fmt: skip
        },
    },
    {
        "name": "the ledger's chain broken",
        "series": [s("vaultui_ledger_intact", "1x5 0x5")],
        "checks": {
            "3m": {"VaultuiLedgerBroken": []},
            "8m": {"VaultuiLedgerBroken": [alert("VaultuiLedgerBroken", "the run ledger's chain is broken")]},
        },
    },
    {
        "name": "the newest archive corrupt; unverified for days; verified is quiet",
        "series": [
            s("vaultui_newest_archive_state", "1x10", archive=ARCHIVE, state="corrupt"),
            s("vaultui_newest_archive_state", "0x10", archive=ARCHIVE, state="verified"),
            s("vaultui_newest_archive_timestamp_seconds", "0x10", archive=ARCHIVE),
            s("vaultui_newest_archive_state", "1x10", archive="old.tar.gz", state="legacy", deployment="b"),
            s("vaultui_newest_archive_timestamp_seconds", "-259200x10", archive="old.tar.gz", deployment="b"),
            s("vaultui_newest_archive_state", "1x10", archive="new.tar.zst", state="complete", deployment="c"),
            s("vaultui_newest_archive_timestamp_seconds", "-3600x10", archive="new.tar.zst", deployment="c"),
        ],
        "checks": {
            "5m": {
                "VaultuiNewestArchiveCorrupt": [
                    alert(
                        "VaultuiNewestArchiveCorrupt",
                        f"the newest archive {ARCHIVE} failed verification",
                        archive=ARCHIVE,
                        state="corrupt",
                    )
                ],
                "VaultuiNewestArchiveUnverified": [
                    {
                        **alert(
                            "VaultuiNewestArchiveUnverified",
                            "the newest archive old.tar.gz is unverified",
                            archive="old.tar.gz",
                            state="legacy",
                            deployment="b",
                        ),
                        "exp_annotations": {
                            **alert("VaultuiNewestArchiveUnverified", "", archive="old.tar.gz", deployment="b")[
                                "exp_annotations"
                            ],
                            "summary": "b (shop): the newest archive old.tar.gz is unverified",
                        },
                    }
                ],
            },
        },  # fmt: skip
    },
    {
        "name": "the RPO past its threshold for 5 minutes; a NaN threshold is none",
        "series": [
            s("vaultui_rpo_seconds", "100x5 900x20"),
            s("vaultui_rpo_threshold_seconds", "300x25"),
            s("vaultui_rpo_seconds", "90000x25", deployment="nightly-only"),
            s("vaultui_rpo_threshold_seconds", "NaNx25", deployment="nightly-only"),
        ],
        "checks": {
            "8m": {"VaultuiRpoExceeded": []},
            "12m": {"VaultuiRpoExceeded": [alert("VaultuiRpoExceeded", "15m 0s of writes would be lost")]},
        },
    },
    {
        "name": "the oplog capture stalls; one that keeps pace is quiet",
        "series": [
            s("vaultui_oplog_newest_entry_timestamp_seconds", "0x30"),
            s("vaultui_oplog_newest_entry_timestamp_seconds", "0+60x30", deployment="live"),
        ],
        "checks": {
            "12m": {"VaultuiOplogCaptureStalled": []},
            "20m": {
                "VaultuiOplogCaptureStalled": [
                    alert("VaultuiOplogCaptureStalled", "the oplog capture is 20m 0s behind")
                ]
            },  # fmt: skip
        },
    },
    {
        "name": "a new oplog gap recorded",
        "series": [s("vaultui_oplog_gaps", "2x30 3x30")],
        "checks": {
            "20m": {"VaultuiOplogGap": []},
            "40m": {"VaultuiOplogGap": [alert("VaultuiOplogGap", "a new gap in the captured oplog")]},
        },
    },
    {
        "name": "a restore drill overdue; a recent one is quiet",
        "series": [
            s("vaultui_last_run_timestamp_seconds", "-3110400x10", kind="drill"),
            s("vaultui_last_run_timestamp_seconds", "-86400x10", kind="drill", deployment="drilled"),
        ],
        "checks": {
            "5m": {
                "VaultuiDrillOverdue": [alert("VaultuiDrillOverdue", "no restore drill for 36d 0h 5m 0s", kind="drill")]
            }
        },  # fmt: skip
    },
    {
        "name": "restore time past the RTO: measured, forecast, and weeks ahead",
        "series": [
            s("vaultui_restore_duration_seconds", "700x10"),
            s("vaultui_restore_forecast_seconds", "720x10"),
            s("vaultui_rto_seconds", "600x10"),
            s("vaultui_rto_forecast_days", "10x10"),
            s("vaultui_restore_duration_seconds", "300x10", deployment="fast"),
            s("vaultui_restore_forecast_seconds", "310x10", deployment="fast"),
            s("vaultui_rto_seconds", "600x10", deployment="fast"),
            s("vaultui_rto_forecast_days", "400x10", deployment="fast"),
        ],
        "checks": {
            "5m": {
                "VaultuiRestoreOverRto": [
                    alert("VaultuiRestoreOverRto", "the newest restore took 11m 40s, past the RTO")
                ],
                "VaultuiRestoreForecastOverRto": [
                    alert("VaultuiRestoreForecastOverRto", "a restore now would take 12m 0s, past the RTO")
                ],
                "VaultuiRtoForecastSoon": [alert("VaultuiRtoForecastSoon", "restores pass the RTO in 10 days")],
            },
        },  # fmt: skip
    },
    {
        "name": "a stuck run: the lease held far longer than the kind's newest run took",
        "series": [
            s("vaultui_lease_acquired_timestamp_seconds", "0x80", kind="backup"),
            s("vaultui_last_run_duration_seconds", "600x80", kind="backup"),
        ],
        "checks": {
            "55m": {"VaultuiRunStuck": []},
            "65m": {
                "VaultuiRunStuck": [
                    alert("VaultuiRunStuck", "a backup run has held the storage for 1h 5m 0s", kind="backup")
                ]
            },
        },  # fmt: skip
    },
    {
        "name": "unfinished writes piling up for an hour",
        "series": [s("vaultui_unfinished_writes", "9x80")],
        "checks": {
            "30m": {"VaultuiUnfinishedWritesPiling": []},
            "65m": {
                "VaultuiUnfinishedWritesPiling": [
                    alert("VaultuiUnfinishedWritesPiling", "9 unfinished writes in the storage")
                ]
            },  # fmt: skip
        },
    },
]


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    fired = {name for case in CASES for checks in case["checks"].values() for name, got in checks.items() if got}
    assert fired == {rule["alert"] for rule in rules()}


def test_promtool_unit_tests_fire_and_stay_quiet_as_they_should(tmp_path: Path) -> None:
    tests = [
        {
            "name": case["name"],
            "interval": "1m",
            "input_series": [{"series": series, "values": values} for series, values in case["series"]],
            "alert_rule_test": [
                {"eval_time": at, "alertname": name, "exp_alerts": expected}
                for at, checks in case["checks"].items()
                for name, expected in checks.items()
            ],
        }
        for case in CASES
    ]
    unit = tmp_path / "vaultui-rules.test.yaml"
    unit.write_text(yaml.safe_dump({"rule_files": [str(RULES)], "evaluation_interval": "1m", "tests": tests}))
    done = promtool("test", "rules", str(unit))
    assert done.returncode == 0, done.stdout + done.stderr


# --- the Grafana dashboard ----------------------------------------------------------------------------------


def test_the_grafana_dashboard_is_a_valid_model_reading_only_metrics_vaultui_writes(
    real_metrics: dict[str, Any],
) -> None:
    model = json.loads((MONITORING / "grafana-dashboard.json").read_text())
    assert model["uid"] == "vaultui" and isinstance(model["schemaVersion"], int) and model["title"]
    variables = {item["name"] for item in model["templating"]["list"]}
    assert {"datasource", "deployment"} <= variables
    ids, titles = [panel["id"] for panel in model["panels"]], [panel["title"] for panel in model["panels"]]
    assert len(set(ids)) == len(ids) and all(titles)
    for panel in model["panels"]:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]) and panel["targets"], panel["title"]
        for target in panel["targets"]:
            names = set(re.findall(r"\bvaultui_[a-z_]+", target["expr"]))
            assert names and names <= set(real_metrics), f"{panel['title']}: {names - set(real_metrics)}"
            assert 'deployment=~"$deployment"' in target["expr"], panel["title"]
    for wanted in ("compliance", "last successful backup", "rpo", "rto", "growth"):
        assert any(wanted in title.lower() for title in titles), wanted


# --- end to end -----------------------------------------------------------------------------------------------


def firing(name: str, status: str = "firing") -> Any:
    return lambda body: (
        body.get("status") == status
        and any(alert["labels"].get("alertname") == name and alert["status"] == status for alert in body["alerts"])
    )


def test_a_failed_backup_pages_through_prometheus_and_alertmanager_and_a_success_resolves_it(
    tmp_path: Path, mongo_uri: str
) -> None:
    receiver = WebhookReceiver()
    gateway = start_pushgateway()
    alertmanager = start_alertmanager(receiver.url)
    prometheus = start_prometheus(RULES, gateway, alertmanager)
    storage = tmp_path / "prod"
    storage.mkdir()
    env = {
        "VAULTUI_STORAGE": str(storage),
        "VAULTUI_PUSHGATEWAY": gateway.url,
        "VAULTUI_DEPLOYMENT_NAMESPACE": "shop",
        "VAULTUI_CONNECT_TIMEOUT": "1",
    }
    try:
        began = time.monotonic()
        unreachable = f"mongodb://127.0.0.1:{free_port()}/"
        failed = run_vaultui("--headless", "backup", env={**env, "VAULTUI_MONGO_URI": unreachable})
        assert failed.returncode != 0
        body = receiver.wait_for(firing("VaultuiBackupFailed"), timeout=120)
        to_page = time.monotonic() - began
        [paged] = [item for item in body["alerts"] if item["labels"]["alertname"] == "VaultuiBackupFailed"]
        assert {key: paged["labels"][key] for key in ("deployment", "namespace", "storage", "severity", "kind")} == {
            "deployment": "prod", "namespace": "shop", "storage": str(storage), "severity": "critical", "kind": "backup"
        }  # fmt: skip
        assert "prod (shop): the newest backup failed" == paged["annotations"]["summary"]

        began = time.monotonic()
        done = run_vaultui("--headless", "backup", env={**env, "VAULTUI_MONGO_URI": mongo_uri})
        assert done.returncode == 0, done.stderr
        receiver.wait_for(firing("VaultuiBackupFailed", "resolved"), timeout=120)
        to_resolve = time.monotonic() - began
        print(f"failure to webhook: {to_page:.1f} s; success to resolved: {to_resolve:.1f} s")
    finally:
        for server in (prometheus, alertmanager, gateway):
            server.stop()
        receiver.close()


# --- without Prometheus: the notify webhook ------------------------------------------------------------------


def test_the_notify_webhook_hears_of_a_failure_then_of_the_recovery_and_never_of_plain_successes(
    tmp_path: Path, mongo_uri: str
) -> None:
    receiver = WebhookReceiver()
    storage = tmp_path / "prod"
    storage.mkdir()
    env = {"VAULTUI_STORAGE": str(storage), "VAULTUI_DEPLOYMENT_NAMESPACE": "shop", "VAULTUI_CONNECT_TIMEOUT": "1"}
    try:
        unreachable = f"mongodb://127.0.0.1:{free_port()}/"
        failed = run_vaultui(
            "--headless", "backup", "--notify-webhook", receiver.url, env={**env, "VAULTUI_MONGO_URI": unreachable}
        )
        assert failed.returncode == 4  # the same code as without a webhook: the source was unreachable
        [told] = receiver.bodies
        assert told["vaultui"]["event"] == "failed" and told["vaultui"]["exit_code"] == 4
        assert told["text"].startswith("vaultui backup on prod (shop) FAILED: cannot reach MongoDB at 127.0.0.1")
        assert "password" not in json.dumps(told)
        # The secret URL may come from the environment (a Secret) instead of the command line.
        with_secret = {**env, "VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_NOTIFY_WEBHOOK": receiver.url}
        assert run_vaultui("--headless", "backup", env=with_secret).returncode == 0
        assert receiver.bodies[-1]["vaultui"]["event"] == "recovered" and len(receiver.bodies) == 2
        assert run_vaultui("--headless", "backup", env=with_secret).returncode == 0
        assert len(receiver.bodies) == 2  # a success after a success says nothing
    finally:
        receiver.close()


def test_a_refused_restore_is_told_as_refused(
    tmp_path: Path, mongo_uri: str, mongo_client: Any, database_name: str
) -> None:
    source = database_name
    mongo_client[source]["orders"].insert_many([{"_id": index} for index in range(10)])
    receiver = WebhookReceiver()
    storage = tmp_path / "prod"
    storage.mkdir()
    env = {"VAULTUI_STORAGE": str(storage), "VAULTUI_MONGO_URI": mongo_uri, "VAULTUI_TARGET_URI": mongo_uri}
    try:
        assert run_vaultui("--headless", "backup", "--db", source, env=env).returncode == 0
        refused = run_vaultui("--headless", "restore", "--latest", "--notify-webhook", receiver.url, env=env)
        assert refused.returncode == 7  # the target holds the data: refused, nothing changed
        [told] = receiver.bodies
        assert told["vaultui"]["event"] == "refused" and "was REFUSED: the target already holds data" in told["text"]
    finally:
        receiver.close()


def test_a_webhook_that_is_down_or_hangs_changes_nothing_of_the_run(tmp_path: Path) -> None:
    import threading

    storage = tmp_path / "prod"
    storage.mkdir()
    env = {"VAULTUI_STORAGE": str(storage), "VAULTUI_CONNECT_TIMEOUT": "1",
           "VAULTUI_MONGO_URI": f"mongodb://127.0.0.1:{free_port()}/"}  # fmt: skip
    down = run_vaultui("--headless", "backup", "--notify-webhook", f"http://127.0.0.1:{free_port()}/x", env=env)
    assert down.returncode == 4 and "not notified: the webhook http://127.0.0.1 could not be reached" in down.stderr
    release = threading.Event()
    hanging = WebhookReceiver(delay=release)
    try:
        began = time.monotonic()
        hung = run_vaultui("--headless", "backup", "--notify-webhook", hanging.url, env=env, timeout=120)
        took = time.monotonic() - began
        assert hung.returncode == 4 and "not notified" in hung.stderr and len(hanging.bodies) == 1
        assert took < 60, f"the run waited {took:.0f} s for a hanging webhook"  # bounded by the 5 s timeout
    finally:
        release.set()
        hanging.close()
