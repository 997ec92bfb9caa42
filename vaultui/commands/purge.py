"""`purge`: the retention plan (every archive's fate and why), applied with --apply."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from datetime import UTC, datetime

from engine.sla.retention import PurgeResult, apply_purge, make_plan
from vaultui.commands.context import CommandOptions, Context
from vaultui.exit_codes import ExitCode
from vaultui.formatting import oplog_plan_line, plan_summary
from vaultui.output import print_json


@dataclass(frozen=True)
class Options(CommandOptions):
    """The flags of `purge` (the settings they set are resolved into the context's Settings)."""

    dry_run: bool = False
    json: bool = False


def run(options: Options, context: Context) -> ExitCode:
    storage = context.storage()
    policy = context.policy()
    with context.metrics_after(storage):
        if options.dry_run:
            plan = make_plan(storage, policy, datetime.now(UTC))
            if options.json:
                print_json(
                    [
                        {
                            "archive": d.name,
                            "action": d.action,
                            "reason": d.reason,
                            "age_days": d.age_days,
                            "purge_in_days": d.purge_in_days,
                        }
                        for d in plan.decisions
                    ]
                    + [{"oplog_chunk": ref.key, "action": "delete", "bytes": ref.size} for ref in plan.chunks],
                    indent=1,
                )
                return ExitCode.OK
            print(plan_summary(plan))
            for decision in plan.decisions:
                print(f"  {decision.action:<6} {decision.name:<26} {decision.reason}")
            if plan.chunks or plan.chunks_kept:
                print(f"  {oplog_plan_line(plan)}")
            return ExitCode.OK
        result = apply_purge(storage, policy)
        if options.json:
            skipped = [{"archive": name, "reason": reason} for name, reason in result.skipped]
            print_json({"deleted": result.deleted, "freed_bytes": result.freed_bytes, "skipped": skipped})
        else:
            print(purge_line(result))
            for name in result.deleted:
                print(f"  deleted {name}")
    return ExitCode.OK if result.complete else ExitCode.STORAGE


def purge_line(result: PurgeResult) -> str:
    for name, reason in result.skipped:
        print(f"vaultui: WARNING: could not delete {name}, skipped it: {reason}", file=sys.stderr)
    return result.describe()
