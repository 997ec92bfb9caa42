# Every target sets itself up from a fresh clone; a second run skips what is already done.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed

.PHONY: demo test test-cluster test-repeat fuzz bed lint bench bench-large bench-backends clean

# --no-compile: Python compiles what it imports when it imports it; compiling every installed module up front
# (the kubernetes client alone has thousands) took a fifth of the set-up here. uv was measured too and was
# slower on this machine (it ignores PIP_FIND_LINKS and stalled on the index): pip stays.
$(INSTALLED): pyproject.toml engine/archive/_bsoncheck.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -e '.[test]'
	touch $@

# FerretDB and mongo-tools, built once through the Go module proxy and cached in ~/.cache/vaultui-testbed.
bed:
	bash tests/bed/build.sh

# The dashboard on a local FerretDB with a sample shop and ~100 nights of archives (made once, kept in
# ~/.cache/vaultui-demo; `make demo DEMO_ARGS=--fresh` starts again).
demo: $(INSTALLED) bed
	$(PY) -m tests.bed.demo $(DEMO_ARGS)

# Style (ruff), types (mypy: strict on engine/) and the layers (import-linter): docs/architecture.md says which.
lint: $(INSTALLED)
	$(VENV)/bin/ruff check engine vaultui tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: $(INSTALLED) bed lint
	$(PY) -m pytest

# k8s/ on a real single-node cluster (kubelet, containerd + runc, CNI, the control plane, CoreDNS), every part a
# process of the bed inside a network namespace it makes and removes (needs root). The first run builds the node
# and the images (tests/bed/build_node.sh, cached in ~/.cache/vaultui-testbed); `make test` does not need it.
test-cluster: $(INSTALLED) bed
	bash tests/bed/build_node.sh
	$(PY) -m tests.bed.netns -- $(PY) -m pytest -p no:cacheprovider tests/cluster

# The UI tests 10 times in a row beside two busy processes: every run must pass (REPEAT=N for another count).
REPEAT ?= 10
test-repeat: $(INSTALLED) bed
	bash tests/repeat.sh $(REPEAT)

# Property-based round trips and input mutations with new random examples, ten times as many as `make test` replays
# (and 25 times as many mutated documents for the C BSON checker against pymongo's decoder).
fuzz: $(INSTALLED) bed
	VAULTUI_HYPOTHESIS=explore $(PY) -m pytest -p no:cacheprovider tests/test_round_trips.py tests/test_names_and_index_specs.py tests/test_fuzz_inputs.py \
		tests/test_bson_check.py

# Side-by-side figures against mongodump, mongorestore, the old pipeline and the server's own ceiling, in one run:
# restore wall time against mongorestore at 1 and 8 workers and 4 collections in parallel, and verify of an
# old-pipeline archive against tar -xzO (bench.restore_speed, medians of 3 rounds; 30 and 300 MB about 12 min),
# client cost (wall, CPU s/GB, peak RSS) at BENCH_MB sizes in MB of BSON (~1 KB documents; 30 and 300 take about
# 17 min here), the detailed backup/restore/verify/codec figures at 30 MB, point-in-time recovery, start-up and
# the dashboard at 10,000 archives. `make bench-large` adds the 1 GB size (about 40 min more on FerretDB).
BENCH_MB ?= 30 300
bench: $(INSTALLED) bed
	$(PY) -m bench.startup
	PYTHONUNBUFFERED=1 $(PY) -m bench.restore_speed $(BENCH_MB)
	PYTHONUNBUFFERED=1 $(PY) -m bench.client_cost $(BENCH_MB)
	$(PY) -m bench.backup_restore 30
	$(PY) -m bench.pitr
	$(PY) -m bench.dashboard_scale
	$(PY) -m bench.fleet_scale

bench-large:
	$(MAKE) bench BENCH_MB="30 300 1000"

# FerretDB's SQLite and PostgreSQL backends on the same documents (needs Debian's postgresql; the bench uses SQLite).
bench-backends: $(INSTALLED) bed
	$(PY) -m bench.backends

clean:
	rm -rf $(VENV) .pytest_cache

# Hash-locked dependencies for the container image, compiled for the image's interpreter (CPython 3.12, linux
# x86_64, glibc >= 2.28): requirements/image.lock from [project].dependencies, requirements/build.lock from
# [build-system].requires (setuptools, used in the builder stage only). Run after changing either in
# pyproject.toml and commit the locks with it; tests/test_image.py fails while a dependency is missing from them.
# Existing pins are kept; `make lock LOCK_ARGS=--upgrade` moves everything to the newest allowed versions.
# uv runs from its own throwaway venv, so it never enters .venv or the image.
UV_VERSION ?= 0.13.9
LOCK_TOOLS ?= /tmp/vaultui-lock-tools
LOCK_COMPILE = $(LOCK_TOOLS)/bin/uv pip compile --no-config --quiet --generate-hashes --python-version 3.12 \
	--python-platform x86_64-manylinux_2_28 --custom-compile-command 'make lock' $(LOCK_ARGS)
.PHONY: lock
lock:
	$(LOCK_TOOLS)/bin/uv --version 2>/dev/null | grep -qx 'uv $(UV_VERSION)' \
		|| { $(PYTHON) -m venv $(LOCK_TOOLS) && $(LOCK_TOOLS)/bin/pip install --quiet 'uv==$(UV_VERSION)'; }
	mkdir -p requirements
	$(LOCK_COMPILE) pyproject.toml --output-file requirements/image.lock
	$(PYTHON) -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], sep="\n")' \
		| $(LOCK_COMPILE) - --output-file requirements/build.lock
