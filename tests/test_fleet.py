"""The fleet: a file naming many deployments, one row each (worst first), `status --fleet`, `report --fleet`,
the fleet screen, and `fleet discover` against the bed's real API server. Three deployments as a team has
them: two folder storages (one failing its SLA), one S3 bucket on the bed's endpoint reached with the
credentials its entry names, and a storage that accepts connections and never answers."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.common.errors import ConfigError
from engine.evidence.ledger import record_run
from engine.fleet.file import load_fleet
from engine.fleet.rows import RowState, load_row, load_rows
from engine.storage import open_storage
from tests.history import NOW, record, write_backup

ROOT = Path(__file__).resolve().parent.parent


def healthy_history(storage_url: str, now: datetime, *, missed: set[int] = frozenset(), drill_days: int = 5) -> None:
    """Nightly backups at 00:05 for the last 40 days (the days in `missed` none), each archive read back;
    a drill `drill_days` ago that met its RTO."""
    if "://" not in storage_url:
        Path(storage_url).mkdir(parents=True, exist_ok=True)
    storage = open_storage(storage_url)
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    for back in range(40, -1, -1):
        started = midnight - timedelta(days=back) + timedelta(minutes=5)
        if started > now or back in missed:
            continue
        run = record("backup", started, "success")
        record_run(storage, run)
        write_backup(storage, run, 20_000 + back)
    drill = record("drill", now - timedelta(days=drill_days), "success", seconds=95.0, rto_seconds=600)
    drill.bytes = 20_000
    record_run(storage, drill)


class Hanging:
    """A TCP server on loopback that accepts connections and never answers a byte: a storage that hangs."""

    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.held: list[socket.socket] = []
        self.thread = threading.Thread(target=self.accept, daemon=True)
        self.thread.start()

    def accept(self) -> None:
        while True:
            try:
                connection, _ = self.server.accept()
            except OSError:
                return
            self.held.append(connection)

    def close(self) -> None:
        self.server.close()
        for connection in self.held:
            connection.close()


@pytest.fixture
def hanging() -> Iterator[Hanging]:
    server = Hanging()
    yield server
    server.close()


def fleet_file(
    tmp_path: Path,
    now: datetime,
    s3_server,
    s3_bucket: str,
    hanging: Hanging | None,
    monkeypatch,  # noqa: ANN001
) -> Path:
    prod, staging = tmp_path / "prod", tmp_path / "staging"
    prod.mkdir()
    staging.mkdir()
    healthy_history(str(prod), now)
    healthy_history(str(staging), now, missed={1, 2, 3, 6})  # four of 30 slots missed: 86.7 %
    monkeypatch.setenv("EU_S3_KEY", s3_server.extra["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("EU_S3_SECRET", s3_server.extra["AWS_SECRET_ACCESS_KEY"])
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(name, raising=False)  # the S3 deployment's credentials come from its entry only
    s3_url = f"s3://{s3_bucket}/eu?endpoint={s3_server.url}&path_style=1"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3_server.extra["AWS_ACCESS_KEY_ID"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3_server.extra["AWS_SECRET_ACCESS_KEY"])
    healthy_history(s3_url, now)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    text = f"""
[defaults]
schedule = "0 0 * * *"
rto_seconds = 600

[deployments.prod]
storage = "{prod}"
namespace = "shop"
compliance_target = 99

[deployments.staging]
storage = "{staging}"
max_age_days = 30

[deployments.eu]
storage = "{s3_url}"
kube_context = "eu-west"
namespace = "tenants"
[deployments.eu.secrets]
aws_access_key_id = {{ env = "EU_S3_KEY" }}
aws_secret_access_key = {{ env = "EU_S3_SECRET" }}
mongo_uri = {{ env = "EU_MONGO_URI" }}
[deployments.eu.targets]
scratch = {{ file = "/run/secrets/eu-scratch" }}
"""
    if hanging is not None:
        text += f"""
[deployments.archive-dc]
storage = "s3://vaultui-hangs/dc?endpoint=http://127.0.0.1:{hanging.port}&path_style=1"
[deployments.archive-dc.secrets]
aws_access_key_id = {{ env = "EU_S3_KEY" }}
aws_secret_access_key = {{ env = "EU_S3_SECRET" }}
"""
    path = tmp_path / "fleet.toml"
    path.write_text(text)
    return path


# ---- the fleet file ----------------------------------------------------------------------------------------


def test_the_fleet_file_names_deployments_their_settings_and_where_secrets_come_from(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(
        """
[defaults]
rto_seconds = 900
schedule = "5 0 * * *"
[deployments.prod]
storage = "s3://backups/prod"
kube_context = "prod-eu"
namespace = "shop"
compliance_target = 99.5
rpo_seconds = 300
[deployments.prod.secrets]
mongo_uri = { env = "PROD_MONGO_URI" }
drill_uri = { file = "/run/secrets/prod-drill" }
[deployments.prod.targets]
staging = { env = "PROD_STAGING_URI" }
[deployments."tenant-β"]
storage = "/backups/tenant"
rto_seconds = 300
"""
    )
    fleet = load_fleet(path)
    prod = fleet.get("prod")
    assert fleet.names == ["prod", "tenant-β"]
    assert prod.settings.storage == "s3://backups/prod" and prod.settings.target_percent == 99.5
    assert prod.settings.rto_seconds == 900 and prod.settings.schedule == "5 0 * * *"  # from [defaults]
    assert (prod.kube_context, prod.kube_namespace) == ("prod-eu", "shop")
    assert (prod.settings.deployment, prod.settings.deployment_namespace) == ("prod", "shop")  # metrics labels
    assert prod.secrets["mongo_uri"].env == "PROD_MONGO_URI" and prod.secrets["drill_uri"].file.endswith("drill")
    assert fleet.get("tenant-β").settings.rto_seconds == 300


def test_every_mistake_of_a_fleet_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(
        """
colour = "blue"
[deployments.prod]
storage = "mongodb://admin:hunter2@db-0/backups"
rto_seconds = "ten minutes"
retention = 90
[deployments.prod.secrets]
mongo_uri = "mongodb://admin:hunter2@db-0"
password = { env = "X" }
[deployments.staging]
schedule = "0 0 * * *"
"""
    )
    with pytest.raises(ConfigError) as raised:
        load_fleet(path)
    message = str(raised.value)
    lines = message.splitlines()[1:]
    assert len(lines) == 7, message
    for expected in (
        "unknown table or key 'colour'",
        "deployments.prod.storage holds a password",
        "rto_seconds='ten minutes' is not valid",
        "deployments.prod.retention is not a setting",
        "deployments.prod.secrets.mongo_uri: never write a secret here",
        "deployments.prod.secrets.password: unknown secret",
        "deployments.staging: no storage",
    ):
        assert any(expected in line for line in lines), (expected, message)
    assert "hunter2" not in message  # a mistake is named, the secret it held never shown


def test_a_deployment_name_must_be_a_label(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text('[deployments."bad name!"]\nstorage = "/b"\n')
    with pytest.raises(ConfigError, match="a deployment's name is letters"):
        load_fleet(path)


def test_no_fleet_file_no_deployments_and_not_toml_say_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the fleet file"):
        load_fleet(tmp_path / "none.toml")
    (tmp_path / "empty.toml").write_text("")
    with pytest.raises(ConfigError, match="no deployments"):
        load_fleet(tmp_path / "empty.toml")
    (tmp_path / "bad.toml").write_text("[deployments.prod\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_fleet(tmp_path / "bad.toml")


# ---- rows -------------------------------------------------------------------------------------------------


def test_rows_worst_first_and_a_hanging_storage_costs_only_its_own_row(
    tmp_path: Path,
    s3_server,
    s3_bucket: str,
    hanging: Hanging,
    monkeypatch,  # noqa: ANN001
) -> None:
    now = datetime.now(UTC)
    fleet = load_fleet(fleet_file(tmp_path, now, s3_server, s3_bucket, hanging, monkeypatch))
    rows = load_rows(fleet.deployments, now, deadline=8.0)
    by_name = {row.name: row for row in rows}
    assert [row.name for row in rows][:2] == ["staging", "archive-dc"]  # FAILING, then DOWN
    assert by_name["staging"].state == RowState.FAILING and "below target" in by_name["staging"].alerts
    assert by_name["archive-dc"].state == RowState.DOWN
    assert "did not answer within 8 s" in by_name["archive-dc"].error
    for name in ("prod", "eu"):  # the S3 one read with the credentials its entry names
        row = by_name[name]
        assert row.state == RowState.OK, (name, row)
        assert row.compliance_percent == 100.0 and row.recovery_source == "drill" and row.recovery_met
        assert row.newest_state is not None and row.newest_state.value == "verified"


def test_a_row_says_why_its_storage_failed(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_text(f'[deployments.gone]\nstorage = "s3://Bad_Bucket/x"\n[deployments.ok]\nstorage = "{tmp_path}"\n')
    fleet = load_fleet(path)
    row = load_row(fleet.get("gone"), datetime.now(UTC), deadline=30)
    assert row.state == RowState.DOWN and "not a bucket name" in row.error


def test_a_drill_long_ago_or_never_puts_a_deployment_at_risk(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    healthy_history(str(tmp_path / "a"), now, drill_days=40)
    path = tmp_path / "fleet.toml"
    path.write_text(f'[deployments.a]\nstorage = "{tmp_path / "a"}"\n')
    row = load_row(load_fleet(path).get("a"), now, deadline=30)
    assert row.state == RowState.AT_RISK and row.alerts == ("drill overdue",)


# ---- headless --------------------------------------------------------------------------------------------


def vaultui(*arguments: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "vaultui.cli", *arguments],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, **(env or {})},
        cwd=ROOT,
    )


def test_status_fleet_prints_the_table_and_names_who_is_below_target(
    tmp_path: Path,
    s3_server,
    s3_bucket: str,
    hanging: Hanging,
    monkeypatch,  # noqa: ANN001
) -> None:
    path = fleet_file(tmp_path, datetime.now(UTC), s3_server, s3_bucket, hanging, monkeypatch)
    done = vaultui("--headless", "status", "--fleet", str(path), env={"VAULTUI_FLEET_DEADLINE": "8"})
    assert done.returncode == 8, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["Deployment", "State", "Compliance"]
    assert [line.split()[0] for line in lines[1:5]] == ["staging", "archive-dc", "eu", "prod"]
    assert "FAILING" in lines[1] and "86.7%<99" in lines[1] and "DOWN" in lines[2]
    assert "below target: staging; storage not answering: archive-dc" in done.stderr
    as_json = vaultui(
        "--headless", "status", "--json", "--fleet", env={"VAULTUI_FLEET": str(path), "VAULTUI_FLEET_DEADLINE": "8"}
    )
    rows = json.loads(as_json.stdout)["deployments"]
    assert [(row["deployment"], row["state"]) for row in rows] == [
        ("staging", "FAILING"),
        ("archive-dc", "DOWN"),
        ("eu", "OK"),
        ("prod", "OK"),
    ]
    assert as_json.returncode == 8


def test_status_fleet_is_ok_when_every_deployment_is(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    healthy_history(str(tmp_path / "a"), now)
    healthy_history(str(tmp_path / "b"), now)
    path = tmp_path / "fleet.toml"
    path.write_text(f'[deployments.a]\nstorage = "{tmp_path / "a"}"\n[deployments.b]\nstorage = "{tmp_path / "b"}"\n')
    done = vaultui("--headless", "status", "--fleet", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "OK" in done.stdout.splitlines()[1] and "OK" in done.stdout.splitlines()[2]


def test_report_fleet_has_a_summary_and_a_section_per_deployment(
    tmp_path: Path,
    s3_server,
    s3_bucket: str,
    monkeypatch,  # noqa: ANN001
) -> None:
    now = datetime.now(UTC)
    path = fleet_file(tmp_path, now, s3_server, s3_bucket, None, monkeypatch)
    month = f"{now:%Y-%m}"
    out = tmp_path / "fleet-report.md"
    done = vaultui("--headless", "report", "--fleet", str(path), "--month", month, "--output", str(out))
    assert done.returncode == 0, done.stderr
    text = out.read_text()
    assert text.startswith(f"# vaultui fleet SLA report — {month}")
    summary = text.split("## Summary")[1].split("\n## ")[0]
    assert "2 of 3 deployments met every target; not: staging." in summary
    assert [line.split("|")[1].strip() for line in summary.splitlines() if line.startswith("| ")][1:] == [
        "prod",
        "staging",
        "eu",
    ]
    for name in ("prod", "staging", "eu"):
        assert f"\n## {name}\n" in text
    assert text.count("### Compliance\n") == 3 and text.count("### Retention adherence\n") == 3
    html = vaultui("--headless", "report", "--fleet", str(path), "--month", month, "--format", "html")
    assert html.returncode == 0 and "<h2>Summary</h2>" in html.stdout and html.stdout.count("<h2>") == 4


def test_a_fleet_and_a_storage_at_once_is_refused(tmp_path: Path) -> None:
    done = vaultui("--headless", "status", "--fleet", str(tmp_path / "f.toml"), "--storage", str(tmp_path))
    assert done.returncode == 3 and "give either --fleet or --storage" in done.stderr


# ---- snapshot clock --------------------------------------------------------------------------------------

SNAPSHOT_NOW = NOW


# ---- the fleet screen -------------------------------------------------------------------------------------


def snapshot_fleet(tmp_path: Path, monkeypatch) -> Path:  # noqa: ANN001
    """Four deployments on the frozen clock: one OK, one failing, one at risk, one whose storage URL is wrong.
    Folders relative to the working directory, so no temporary path reaches a snapshot."""
    monkeypatch.chdir(tmp_path)
    healthy_history("prod", SNAPSHOT_NOW)
    healthy_history("staging", SNAPSHOT_NOW, missed={1, 2, 3, 6})
    healthy_history("tenant-eu", SNAPSHOT_NOW, drill_days=40)
    places = (("prod", "shop", "prod"), ("staging", "shop-staging", "staging"), ("tenant-eu", "tenants", "tenant-eu"))
    text = "\n".join(f'[deployments.{name}]\nstorage = "{url}"\nnamespace = "{space}"\n' for name, space, url in places)
    path = tmp_path / "fleet.toml"
    path.write_text(text + '\n[deployments.dr]\nstorage = "s3://DR_Backups/mongo"\nnamespace = "dr"\n')
    return path


def fleet_app(path: Path, deadline: float = 30.0):  # noqa: ANN201
    from vaultui.app import make_app
    from vaultui.settings import AppSettings, FleetSettings

    base = AppSettings(storage_url="", refresh_seconds=0, clock=lambda: SNAPSHOT_NOW)
    return make_app(base, fleet=FleetSettings(load_fleet(path), base, deadline=deadline))


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_fleet_screen(size: tuple[int, int], tmp_path: Path, monkeypatch, snap_compare) -> None:  # noqa: ANN001
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    from tests.helpers import settle

    async def settled(pilot) -> None:  # noqa: ANN001
        await settle(pilot.app, pilot)

    assert snap_compare(fleet_app(snapshot_fleet(tmp_path, monkeypatch)), terminal_size=size, run_before=settled)


async def test_enter_opens_a_deployment_and_esc_comes_back(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    from tests.helpers import settle
    from vaultui.screens.archives import ArchivesScreen
    from vaultui.screens.fleet import FleetScreen

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    app = fleet_app(snapshot_fleet(tmp_path, monkeypatch))
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(app, pilot)
        fleet = app.screen
        assert isinstance(fleet, FleetScreen)
        order = [row.name for row in fleet.shown]
        assert order == ["staging", "dr", "tenant-eu", "prod"]
        await pilot.press("G")  # prod, the last row
        await pilot.press("enter")
        await settle(app, pilot)
        assert isinstance(app.screen, ArchivesScreen)
        assert app.storage_label.endswith("prod") and app.summary is not None
        month = SNAPSHOT_NOW - timedelta(days=30)  # the dashboard reads 90 days; the window is 30
        assert app.summary.compliance.since(month).percent == 100.0
        await pilot.press("escape")
        await settle(app, pilot)
        assert app.screen is fleet and fleet.selected_name() == "prod"  # back where it was
        await pilot.press("g", "enter")  # staging: its own storage, not prod's figures
        await settle(app, pilot)
        assert app.storage_label.endswith("staging") and app.summary.compliance.since(month).below_target


async def test_a_hanging_storage_never_blocks_the_other_rows_or_the_keys(
    tmp_path: Path,
    hanging: Hanging,
    monkeypatch,  # noqa: ANN001
) -> None:
    """Twenty deployments, one of them a storage that never answers: the others fill in and the keys work
    while it is still loading; quitting does not wait for it."""
    from tests.helpers import wait_for
    from vaultui.screens.archives import ArchivesScreen

    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    healthy_history(str(tmp_path / "shared"), SNAPSHOT_NOW)
    lines = [f'[deployments.d{index:02d}]\nstorage = "{tmp_path / "shared"}"\n' for index in range(19)]
    lines.append(f'[deployments.hangs]\nstorage = "s3://vaultui-hangs/p?endpoint=http://127.0.0.1:{hanging.port}"\n')
    path = tmp_path / "fleet.toml"
    path.write_text("\n".join(lines))
    app = fleet_app(path, deadline=600.0)
    async with app.run_test(size=(120, 40)) as pilot:
        screen = app.screen
        await wait_for(pilot, lambda: sum(row.state == RowState.OK for row in screen.rows.values()) == 19)
        assert screen.rows["hangs"].state == RowState.LOADING
        assert screen.shown[0].name == "hangs"  # loading sorts before OK: the unknown is shown first
        await pilot.press("j", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ArchivesScreen) and app.summary is not None)
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
        assert screen.rows["hangs"].state == RowState.LOADING
        await pilot.press("q")
    assert app.return_code in (0, None)


# ---- fleet discover, against the bed's real API server -------------------------------------------------------


def test_fleet_discover_finds_installs_through_two_contexts_and_copies_no_secret(
    cluster,
    bed_binaries,
    tmp_path: Path,  # noqa: ANN001
) -> None:
    """Two installs of k8s/base; context `admin` may list every namespace, context `reader` is a service
    account that may read one namespace only (its cluster-wide and namespace listings are refused)."""
    from kubernetes import client, config

    from tests.test_rbac import install

    admin = config.new_client_from_config(config_file=str(cluster.kubeconfig))
    first, second = install(cluster, bed_binaries), install(cluster, bed_binaries)
    core, rbac = client.CoreV1Api(admin), client.RbacAuthorizationV1Api(admin)
    core.create_namespaced_service_account(second, client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="reader")))
    rbac.create_namespaced_role(
        second,
        client.V1Role(
            metadata=client.V1ObjectMeta(name="fleet-reader"),
            rules=[
                client.V1PolicyRule(api_groups=["batch"], resources=["cronjobs"], verbs=["list"]),
                client.V1PolicyRule(api_groups=[""], resources=["configmaps"], verbs=["get"]),
            ],
        ),
    )
    rbac.create_namespaced_role_binding(
        second,
        client.V1RoleBinding(
            metadata=client.V1ObjectMeta(name="fleet-reader"),
            role_ref=client.V1RoleRef(api_group="rbac.authorization.k8s.io", kind="Role", name="fleet-reader"),
            subjects=[client.RbacV1Subject(kind="ServiceAccount", name="reader", namespace=second)],
        ),
    )
    token = core.create_namespaced_service_account_token(
        "reader", second, client.AuthenticationV1TokenRequest(spec=client.V1TokenRequestSpec(audiences=[]))
    ).status.token
    admin_token = cluster.kubeconfig.read_text().split("token: ")[1].split()[0]
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        f"""apiVersion: v1
kind: Config
clusters:
- name: bed
  cluster: {{server: "{cluster.url}", insecure-skip-tls-verify: true}}
users:
- name: admin
  user: {{token: "{admin_token}"}}
- name: reader
  user: {{token: "{token}"}}
contexts:
- name: admin
  context: {{cluster: bed, user: admin, namespace: default}}
- name: reader
  context: {{cluster: bed, user: reader, namespace: {second}}}
current-context: admin
"""
    )
    path = tmp_path / "fleet.toml"
    path.write_text('[deployments.mine]\nstorage = "/srv/backups"\n')  # an entry of the user's own: kept
    env = {"KUBECONFIG": str(kubeconfig)}
    done = vaultui(
        "--headless", "fleet", "discover", "--context", "admin", "--context", "reader", "--write", str(path), env=env
    )
    assert done.returncode == 0, done.stderr
    assert "context admin: all namespaces" in done.stderr and f"context reader: {second}" in done.stderr
    fleet = load_fleet(path)
    names = set(fleet.names)
    assert {"mine", f"admin-{first}", f"admin-{second}", f"reader-{second}"} <= names, names
    found = fleet.get(f"reader-{second}")
    assert (found.kube_context, found.kube_namespace) == ("reader", second)
    assert found.settings.storage == "/backup" and found.settings.schedule == "0 0 * * *"
    assert found.settings.rto_seconds == 600 and found.settings.max_age_days == 90
    assert found.secrets["mongo_uri"].env == f"READER_{second.upper().replace('-', '_')}_MONGO_URI"
    text = path.read_text()
    assert "in-cluster: Secret vaultui-mongodb, key uri" in text and "is a folder inside the pod" in text
    assert admin_token not in text and token not in text
    again = vaultui("--headless", "fleet", "discover", "--context", "admin", "--write", str(path), env=env)
    assert again.returncode == 0 and "added 0 entries" in again.stdout and path.read_text() == text
    printed = vaultui("--headless", "fleet", "discover", "--context", "reader", env=env)
    tables = [line for line in printed.stdout.splitlines() if line.startswith("[deployments.")]
    assert tables == [f"[deployments.reader-{second}]", f"[deployments.reader-{second}.secrets]"]


def test_the_readmes_fleet_file_loads(tmp_path: Path) -> None:
    """The example users copy from is a fleet file vaultui takes, with the meaning the README gives it."""
    readme = (ROOT / "README.md").read_text()
    example = readme.split("## Many deployments: the fleet")[1].split("```toml\n")[1].split("```")[0]
    path = tmp_path / "fleet.toml"
    path.write_text(example)
    fleet = load_fleet(path)
    assert fleet.names == ["prod", "staging", "tenant-eu"]
    prod = fleet.get("prod")
    assert prod.settings.target_percent == 99.5 and prod.settings.rto_seconds == 600
    assert set(prod.secrets) == {"mongo_uri", "aws_access_key_id", "aws_secret_access_key"}
    assert fleet.get("staging").settings.max_age_days == 30
