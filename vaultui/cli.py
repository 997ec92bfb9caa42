"""Command line entry point: `vaultui --headless COMMAND` runs engine calls and exits with a documented code."""

from __future__ import annotations

import argparse
import sys

from vaultui import __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vaultui",
        description="Backup, restore and retention for MongoDB on Kubernetes.",
    )
    parser.add_argument("--version", action="version", version=f"vaultui {__version__}")
    parser.add_argument("--headless", action="store_true", help="run one command without the dashboard")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    parser.parse_args(argv)
    parser.print_help(sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
