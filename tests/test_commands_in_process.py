"""Commands run in-process from their typed options, as the CLI's parser would build them: no subprocess, the
output captured, the exit code returned (vaultui/commands/: one module per command, `run(options, context)`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.common.config import Settings
from tests.helpers import files_tar_gz
from vaultui.commands import listing, verify
from vaultui.commands.context import Context
from vaultui.exit_codes import ExitCode


@pytest.fixture
def old_archive(tmp_path: Path) -> Path:
    import bson

    documents = b"".join(bson.encode({"_id": number}) for number in range(30))
    (tmp_path / "20261001.tar.gz").write_bytes(
        files_tar_gz({"20261001/shop/orders.bson": documents, "20261001/shop/orders.metadata.json": b"{}"})
    )
    return tmp_path


def test_list_from_its_options(old_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = listing.run(listing.Options(json=True), Context(Settings(storage=str(old_archive))))
    [entry] = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK and (entry["name"], entry["legacy"], entry["codec"]) == ("20261001.tar.gz", True, "gzip")


def test_verify_from_its_options(old_archive: Path, capsys: pytest.CaptureFixture[str]) -> None:
    options = verify.Options.from_arguments(_parsed("verify", "--all", "--json"))
    code = verify.run(options, Context(Settings(storage=str(old_archive))))
    [report] = json.loads(capsys.readouterr().out)
    assert code == ExitCode.OK and report["ok"] and report["documents"] == 30


def _parsed(*arguments: str):  # noqa: ANN202 - an argparse Namespace
    from vaultui.cli import build_parser

    return build_parser().parse_args(["--headless", *arguments])
