"""Container images made on the machine, without Docker or a registry: layers are plain tar files, packed with an
image config into the `docker save` layout, which `ctr images import` reads into the node's containerd.

- vaultui: the Python root filesystem build_node.sh makes once (Debian's python3, /opt/vaultui with the locked
  wheels, the vaultui user), plus a layer of this checkout's wheel, made per session; the config is the one
  the Dockerfile's runtime stage gives (tests/cluster/test_image.py checks the two agree).
- ferretdb: FerretDB built without cgo, one static file.
- pause: the sandbox every pod starts with.
"""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

# What the Dockerfile's runtime stage sets: ENV, USER, WORKDIR, ENTRYPOINT, CMD.
VAULTUI_CONFIG = {
    "Env": [
        "PATH=/opt/vaultui/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONDONTWRITEBYTECODE=1",
        "PYTHONUNBUFFERED=1",
        "HOME=/tmp",
    ],
    "User": "10001:10001",
    "WorkingDir": "/tmp",
    "Entrypoint": ["vaultui"],
    "Cmd": ["--help"],
}
REPOSITORY = Path(__file__).resolve().parents[2]


@dataclass
class Image:
    name: str  # as pods name it: local/vaultui:test (containerd stores docker.io/local/vaultui:test)
    layers: list[Path]
    config: dict


def _digest(path: Path) -> str:
    sha = hashlib.sha256()
    with path.open("rb") as file:
        while block := file.read(1 << 20):
            sha.update(block)
    return sha.hexdigest()


def layer_digest(path: Path) -> str:
    """sha256 of an uncompressed layer (its diff_id), remembered beside a cached layer that does not change."""
    remembered = path.with_name(path.name + ".sha256")
    if remembered.exists() and remembered.stat().st_mtime >= path.stat().st_mtime:
        return remembered.read_text().strip()
    digest = _digest(path)
    remembered.write_text(digest + "\n")
    return digest


def write_archive(images: list[Image], archive: Path) -> None:
    """The `docker save` layout: manifest.json, one config per image, each layer as <diff_id>/layer.tar."""
    manifest = []
    with tarfile.open(archive, "w") as tar:
        written: set[str] = set()
        for image in images:
            digests = [layer_digest(layer) for layer in image.layers]
            for digest, layer in zip(digests, image.layers, strict=True):
                if digest not in written:
                    tar.add(layer, arcname=f"{digest}/layer.tar")
                    written.add(digest)
            config = {
                "architecture": "amd64",
                "os": "linux",
                "config": image.config,
                "rootfs": {"type": "layers", "diff_ids": [f"sha256:{digest}" for digest in digests]},
            }
            body = json.dumps(config).encode()
            config_name = f"{hashlib.sha256(body).hexdigest()}.json"
            _add_bytes(tar, config_name, body)
            repository, tag = image.name.rsplit(":", 1)
            manifest.append({"Config": config_name, "RepoTags": [f"{repository}:{tag}"],
                             "Layers": [f"{digest}/layer.tar" for digest in digests]})  # fmt: skip
        _add_bytes(tar, "manifest.json", json.dumps(manifest).encode())


def _add_bytes(tar: tarfile.TarFile, name: str, body: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(body)
    tar.addfile(info, io.BytesIO(body))


def import_images(socket: Path, images: list[Image], work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    archive = work / "images.tar"
    write_archive(images, archive)
    subprocess.run(["ctr", "--address", str(socket), "--namespace", "k8s.io", "images", "import", str(archive)],
                   check=True, capture_output=True)  # fmt: skip
    archive.unlink()


def python_version_of(rootfs: Path) -> str:
    """The pythonX.Y folder of /opt/vaultui/lib in the cached root filesystem (its wheels are for that Python)."""
    remembered = rootfs.with_name(rootfs.name + ".python")
    if remembered.exists():
        return remembered.read_text().strip()
    with tarfile.open(rootfs) as tar:
        for member in tar:
            parts = member.name.lstrip("./").split("/")
            if parts[:3] == ["opt", "vaultui", "lib"] and len(parts) >= 4 and parts[3].startswith("python"):
                remembered.write_text(parts[3] + "\n")
                return parts[3]
    raise RuntimeError(f"{rootfs} holds no /opt/vaultui/lib/pythonX.Y")


def vaultui_layer(rootfs: Path, work: Path) -> Path:
    """This checkout as a wheel, laid into /opt/vaultui the way pip would, with scripts that run the image's
    venv interpreter: the layer above the cached root filesystem."""
    from installer import install
    from installer.destinations import SchemeDictionaryDestination
    from installer.sources import WheelFile

    python = python_version_of(rootfs)
    if python != f"python{sys.version_info.major}.{sys.version_info.minor}":
        raise RuntimeError(f"the image's Python is {python}, this one {sys.version}: its C extension would not load")
    wheels = Path(tempfile.mkdtemp(dir=work))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(wheels), str(REPOSITORY)], check=True, capture_output=True)  # fmt: skip
    [wheel] = wheels.glob("vaultui-*.whl")
    stage = work / "vaultui-layer"
    venv = stage / "opt" / "vaultui"
    site = venv / "lib" / python / "site-packages"
    destination = SchemeDictionaryDestination(
        {"purelib": str(site), "platlib": str(site), "scripts": str(venv / "bin"), "data": str(venv),
         "headers": str(venv / "include")},
        interpreter="/opt/vaultui/bin/python",
        script_kind="posix",
        bytecode_optimization_levels=(0,),  # compiled here: the image's root is read-only at run time
    )  # fmt: skip
    with WheelFile.open(wheel) as source:
        install(source, destination, {"INSTALLER": b"vaultui-bed"})
    layer = work / "vaultui-layer.tar"
    with tarfile.open(layer, "w") as tar:
        tar.add(stage / "opt", arcname="opt", filter=_owned_by_root)
    return layer


def _owned_by_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def bed_images(paths: dict, work: Path) -> list[Image]:  # type: ignore[type-arg]
    rootfs = Path(paths["VAULTUI_PYTHON_ROOTFS"])
    return [
        Image("local/pause:1", [Path(paths["VAULTUI_PAUSE_LAYER"])], {"Entrypoint": ["/pause"]}),
        Image("local/vaultui:test", [rootfs, vaultui_layer(rootfs, work)], VAULTUI_CONFIG),
        Image("local/ferretdb:test", [Path(paths["VAULTUI_FERRETDB_LAYER"])],
              {"Entrypoint": ["/usr/local/bin/ferretdb"], "WorkingDir": "/tmp",
               "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]}),
    ]  # fmt: skip
