#!/usr/bin/env bash
# Runs the UI tests (pilot, snapshots, tmux) REPEAT times in a row while both cores are kept busy, and prints
# how many runs passed. Flaky UI tests show up here long before they turn CI red.
#   usage: tests/repeat.sh [REPEAT] [pytest selection...]     (default: 10 runs of the UI tests)
set -uo pipefail
cd "$(dirname "$0")/.."
repeat=${1:-10}
shift || true
selection=("$@")
[ ${#selection[@]} -gt 0 ] || selection=(tests/test_ui.py tests/test_ui_snapshots.py tests/test_ui_tmux.py)
python=${PYTHON:-.venv/bin/python}

# Two cores kept at 100 % for the whole run (the machine has two): busy loops need nothing installed.
"$python" -c 'while True: pass' &
busy1=$!
"$python" -c 'while True: pass' &
busy2=$!
trap 'kill $busy1 $busy2 2>/dev/null' EXIT

passed=0
started=$SECONDS
for run in $(seq 1 "$repeat"); do
  if "$python" -m pytest -q -p no:cacheprovider "${selection[@]}" >"/tmp/vaultui-repeat-$run.log" 2>&1; then
    passed=$((passed + 1)); verdict=passed
  else
    verdict="FAILED (log: /tmp/vaultui-repeat-$run.log)"
  fi
  echo "run $run/$repeat: $verdict — $(tail -n 1 "/tmp/vaultui-repeat-$run.log")"
done
echo "repeat: $passed/$repeat runs passed beside two busy processes in $((SECONDS - started)) s"
[ "$passed" -eq "$repeat" ]
