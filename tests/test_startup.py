"""The CLI starts fast because commands load only what they use: an on-call engineer runs `list` and `status`
many times. Checked by counting what gets imported (not by timing, which a busy machine would break)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("kubernetes", "boto3", "botocore", "pymongo", "textual", "prometheus_client")
MODULE_BUDGET = 320  # 247 when this was written; the old start-up imported 691

PROBE = """
import json, sys
from vaultui.cli import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


@pytest.mark.parametrize(
    "arguments", [["--headless", "--help"], ["--headless", "list"], ["--headless", "status"], ["--help"]]
)
def test_everyday_commands_load_no_heavy_client(arguments: list[str], tmp_path: Path) -> None:
    if arguments[-1] != "--help":
        arguments = [*arguments, "--storage", str(tmp_path)]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *arguments], capture_output=True, text=True, timeout=60, check=False
    )
    modules = json.loads(done.stderr.strip().splitlines()[-1])
    loaded = sorted({name.split(".")[0] for name in modules} & set(HEAVY))
    assert loaded == [], f"{arguments} imported {loaded}"
    assert len(modules) <= MODULE_BUDGET, f"{arguments} imported {len(modules)} modules"
