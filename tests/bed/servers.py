"""Starts and stops the test bed's real servers (FerretDB, an S3 endpoint) on free loopback ports."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CACHE = Path(os.environ.get("VAULTUI_TESTBED_CACHE", Path.home() / ".cache" / "vaultui-testbed"))
BUILD_SCRIPT = Path(__file__).with_name("build.sh")


def free_port() -> int:
    """A loopback TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, process: subprocess.Popen[bytes], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with code {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def binary_paths() -> dict[str, Path]:
    """Paths of the cached binaries (and of the mongo-tools source), building them first when needed."""
    paths_file = CACHE / "paths.env"
    if not paths_file.exists() or "VAULTUI_MONITORING" not in paths_file.read_text():
        subprocess.run(["bash", str(BUILD_SCRIPT)], check=True)
    values = dict(line.split("=", 1) for line in paths_file.read_text().split() if "=" in line)
    tools = Path(values["VAULTUI_MONGO_TOOLS"])
    return {
        "ferretdb": Path(values["VAULTUI_FERRETDB"]),
        "mongodump": tools / "mongodump",
        "mongorestore": tools / "mongorestore",
        "bsondump": tools / "bsondump",
        "mongo_tools_source": Path(values["VAULTUI_MONGO_TOOLS_SOURCE"]),
        "kube_apiserver": Path(values["VAULTUI_KUBE_APISERVER"]),
        "etcd": Path(values["VAULTUI_ETCD"]),
        "kustomize": Path(values["VAULTUI_KUSTOMIZE"]),
        **{
            name: Path(values["VAULTUI_MONITORING"]) / name
            for name in ("promtool", "prometheus", "alertmanager", "pushgateway")
        },
    }


@dataclass
class Server:
    """One running server process and where to reach it."""

    name: str
    process: subprocess.Popen[bytes]
    port: int
    url: str
    workdir: Path
    log_path: Path
    extra: dict[str, str] = field(default_factory=dict)
    companions: list[Server] = field(default_factory=list)  # stopped after this one (FerretDB's PostgreSQL)

    def stop(self) -> None:
        self._stop_process()
        for companion in self.companions:
            companion.stop()

    def _stop_process(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def _launch(name: str, argv: list[str], port: int, workdir: Path) -> tuple[subprocess.Popen[bytes], Path]:
    log_path = workdir / f"{name}.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for_port(port, process, name)
    except RuntimeError as error:
        process.kill()
        raise RuntimeError(f"{error}\n{log_path.read_text(errors='replace')[-2000:]}") from None
    return process, log_path


POSTGRESQL_BIN = Path("/usr/lib/postgresql/15/bin")


def start_postgresql() -> Server:
    """Debian's PostgreSQL 15 in a fresh cluster on a free loopback port, trust authentication, as the
    `postgres` user when run as root (PostgreSQL refuses to run as root). For the benchmark's FerretDB
    backend comparison only; the suite does not need it."""
    workdir = Path(tempfile.mkdtemp(prefix="vaultui-postgresql-"))
    data = workdir / "data"
    as_owner: list[str] = []
    if os.geteuid() == 0:
        shutil.chown(workdir, "postgres", "postgres")
        as_owner = ["runuser", "-u", "postgres", "--"]
    subprocess.run([*as_owner, str(POSTGRESQL_BIN / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
                    "--no-sync"], check=True, capture_output=True)  # fmt: skip
    port = free_port()
    argv = [*as_owner, str(POSTGRESQL_BIN / "postgres"), "-D", str(data), "-h", "127.0.0.1", "-p", str(port),
            "-k", str(workdir), "-c", "fsync=off", "-c", "synchronous_commit=off"]  # fmt: skip
    process, log_path = _launch("postgresql", argv, port, workdir)
    subprocess.run([str(POSTGRESQL_BIN / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "postgres",
                    "ferretdb"], check=True, capture_output=True)  # fmt: skip
    url = f"postgres://postgres@127.0.0.1:{port}/ferretdb"
    return Server("postgresql", process, port, url, workdir, log_path)


def start_ferretdb(data_dir: Path | None = None, port: int | None = None, backend: str = "sqlite") -> Server:
    """FerretDB with its SQLite backend in a fresh (or given) data folder, on a free (or given) port; or,
    with backend="postgresql", on a fresh PostgreSQL cluster of its own (stopped with it)."""
    ferretdb = binary_paths()["ferretdb"]
    workdir = Path(tempfile.mkdtemp(prefix="vaultui-ferretdb-"))
    data = data_dir or workdir / "data"
    data.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    companions = [start_postgresql()] if backend == "postgresql" else []
    handler = (["--handler=pg", f"--postgresql-url={companions[0].url}"] if companions
               else ["--handler=sqlite", f"--sqlite-url=file:{data}/"])  # fmt: skip
    argv = [
        str(ferretdb),
        *handler,
        f"--listen-addr=127.0.0.1:{port}",
        f"--debug-addr=127.0.0.1:{free_port()}",
        f"--state-dir={workdir}",
        "--telemetry=disable",
        "--log-level=WARN",
    ]
    try:
        process, log_path = _launch("ferretdb", argv, port, workdir)
    except RuntimeError:
        for companion in companions:
            companion.stop()
        raise
    return Server("ferretdb", process, port, f"mongodb://127.0.0.1:{port}/", workdir, log_path,
                  companions=companions)  # fmt: skip


def start_s3() -> Server:
    """moto's S3 in server mode: a real HTTP endpoint speaking the S3 REST API, with signatures checked.

    moto answers the first requests unauthenticated (INITIAL_NO_AUTH_ACTION_COUNT); those create one IAM user
    allowed s3:*, and from then on every request must be signed with that user's key, so wrong credentials
    fail as they would against real S3. The user's keys are in `extra`.
    """
    import boto3  # the bed's S3 setup only; imported here so FerretDB-only users of this module need no boto3

    workdir = Path(tempfile.mkdtemp(prefix="vaultui-s3-"))
    port = free_port()
    argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]
    setup_calls = 3
    environment = dict(os.environ, INITIAL_NO_AUTH_ACTION_COUNT=str(setup_calls))
    log_path = workdir / "s3.log"
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=workdir, stdout=log, stderr=subprocess.STDOUT, env=environment)
    wait_for_port(port, process, "moto S3 server")
    url = f"http://127.0.0.1:{port}"
    iam = boto3.client(
        "iam", endpoint_url=url, region_name="us-east-1", aws_access_key_id="setup", aws_secret_access_key="setup"
    )
    iam.create_user(UserName="vaultui")
    policy = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": "*"}]}
    iam.put_user_policy(UserName="vaultui", PolicyName="s3-all", PolicyDocument=json.dumps(policy))
    key = iam.create_access_key(UserName="vaultui")["AccessKey"]
    credentials = {"AWS_ACCESS_KEY_ID": key["AccessKeyId"], "AWS_SECRET_ACCESS_KEY": key["SecretAccessKey"]}
    return Server("s3", process, port, url, workdir, log_path, credentials)
