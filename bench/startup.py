"""Start-up time of the everyday commands, best of 10 runs each, beside `kubectl version --client` when kubectl
is on PATH. Usage: python -m bench.startup"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def best_of(command: list[str], runs: int = 10) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        best = min(best, time.perf_counter() - started)
    return best


def main() -> None:
    vaultui = str(Path(sys.executable).with_name("vaultui"))
    with tempfile.TemporaryDirectory() as folder:
        rows = [
            ("vaultui --headless --help", [vaultui, "--headless", "--help"]),
            ("vaultui --headless list", [vaultui, "--headless", "list", "--storage", folder]),
            ("vaultui --headless status", [vaultui, "--headless", "status", "--storage", folder]),
            ("python -c pass (interpreter alone)", [sys.executable, "-c", "pass"]),
        ]
        if kubectl := shutil.which("kubectl"):
            rows.append(("kubectl version --client", [kubectl, "version", "--client"]))
        print(f"{'command':<40} {'seconds (best of 10)':>21}")
        for label, command in rows:
            print(f"{label:<40} {best_of(command):21.3f}")
        if not shutil.which("kubectl"):
            print("kubectl is not installed here; k9s/kubectl answer in about 0.1 s")


if __name__ == "__main__":
    main()
