"""The image the cluster tests build without Docker (tests/bed/images.py) is the Dockerfile's, as far as a pod
can tell: the same entrypoint and default arguments, user, working folder, environment, venv and Python path.
The Dockerfile stays what users build; this keeps the bed's copy from drifting away from it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from tests.bed import images

DOCKERFILE = Path(__file__).resolve().parents[1] / "Dockerfile"


def runtime_stage() -> dict[str, object]:
    """ENV, USER, WORKDIR, ENTRYPOINT and CMD of the Dockerfile's last stage, as the image config holds them."""
    lines: list[str] = []
    for raw in DOCKERFILE.read_text().splitlines():
        if raw.lstrip().startswith("#"):
            continue
        if lines and lines[-1].endswith("\\"):
            lines[-1] = lines[-1][:-1] + " " + raw.strip()
        else:
            lines.append(raw.strip())
    stages = [index for index, line in enumerate(lines) if line.upper().startswith("FROM ")]
    found: dict[str, object] = {"Env": {}}
    for line in lines[stages[-1] :]:
        if not line:
            continue
        instruction, _, rest = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "ENV":
            for pair in shlex.split(rest):
                key, value = pair.split("=", 1)
                found["Env"][key] = value  # type: ignore[index]
        elif instruction == "USER":
            found["User"] = rest.strip()
        elif instruction == "WORKDIR":
            found["WorkingDir"] = rest.strip()
        elif instruction in ("ENTRYPOINT", "CMD"):
            found["Entrypoint" if instruction == "ENTRYPOINT" else "Cmd"] = json.loads(rest)
        elif instruction == "COPY" and "--from=builder" in rest:
            found["venv"] = rest.split()[-1]
    return found


def test_the_bed_image_runs_as_the_dockerfile_says() -> None:
    dockerfile = runtime_stage()
    bed = images.VAULTUI_CONFIG
    assert bed["Entrypoint"] == dockerfile["Entrypoint"] == ["vaultui"]
    assert bed["Cmd"] == dockerfile["Cmd"]
    assert bed["User"] == dockerfile["User"] == "10001:10001"
    assert bed["WorkingDir"] == dockerfile["WorkingDir"] == "/tmp"
    bed_env = dict(item.split("=", 1) for item in bed["Env"])  # type: ignore[union-attr]
    for key, value in dockerfile["Env"].items():  # type: ignore[union-attr]
        if key == "PATH":  # the Dockerfile's `$PATH` is the base image's: the venv comes first in both
            assert value.startswith("/opt/vaultui/bin:") and bed_env["PATH"].startswith("/opt/vaultui/bin:")
        else:
            assert bed_env[key] == value, key
    assert set(bed_env) == set(dockerfile["Env"])  # type: ignore[arg-type]
    # The venv sits where the Dockerfile puts it, and the bed's vaultui layer installs into it.
    assert dockerfile["venv"] == "/opt/vaultui"
    assert 'interpreter="/opt/vaultui/bin/python"' in Path(images.__file__).read_text()


def test_the_manifests_run_the_image_read_only_as_its_user() -> None:
    """What the image must bear in a pod: every vaultui container runs as the image's user on a read-only
    root with HOME on a writable /tmp mount (the cluster tests run it so on the node)."""
    import subprocess

    import yaml

    from tests.bed.servers import binary_paths

    rendered = subprocess.run([str(binary_paths()["kustomize"]), "build", "k8s/overlays/example"], check=True,
                              capture_output=True, text=True, cwd=DOCKERFILE.parent).stdout  # fmt: skip
    containers = []
    for document in yaml.safe_load_all(rendered):
        spec = document.get("spec", {})
        template = spec.get("jobTemplate", {}).get("spec", spec).get("template", {}).get("spec", {})
        for container in template.get("containers", []) + template.get("initContainers", []):
            if "vaultui" in container["image"]:
                containers.append((document["metadata"]["name"], container, template))
    assert len(containers) >= 4  # backup, purge, the oplog capture, the restore-at-start sidecar
    for name, container, template in containers:
        security = container.get("securityContext", {})
        assert security.get("readOnlyRootFilesystem") is True, name
        user = security.get("runAsUser", template.get("securityContext", {}).get("runAsUser"))
        assert user == 10001, name
        mounts = {mount["mountPath"] for mount in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, name
