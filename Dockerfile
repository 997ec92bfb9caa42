# syntax=docker/dockerfile:1
# vaultui image: two stages on one pinned base, non-root, read-only-root friendly (HOME and scratch on /tmp).
# The real MongoDB Database Tools are optional: add them to PATH for `--dumper mongodump` / `--loader mongorestore`.
#
# Base: the official python:3.12-slim-bookworm (CPython 3.12, Debian 12), pinned by the digest of its multi-arch
# index. Both stages use this one ARG, so the venv built in the first runs on the same interpreter in the second.
# Renovate's dockerfile manager bumps the digest where it stands; Dependabot does not follow an ARG into FROM
# (dependabot-core#2057), so under Dependabot bump it by hand. A new Python minor means `make lock` as well:
# requirements/*.lock are compiled for CPython 3.12 on linux x86_64.
ARG PYTHON_IMAGE=python:3.12-slim-bookworm@sha256:782412e85d0f0984994c290652577d4018aff08145c85b262bb63dc0c7522254

# --- builder: every third-party file comes from a hash-checked lock, as a wheel (no sdist builds) ---
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
WORKDIR /src
COPY requirements/build.lock requirements/image.lock ./requirements/
# /opt/build holds setuptools (from build.lock) only to turn the project into a wheel; it is never copied out.
# /opt/vaultui is made without pip and filled by the builder's pip through --python, so the runtime venv holds
# the locked dependencies and vaultui, nothing else. pip compiles the .pyc files here: a read-only root is fine.
RUN python -m venv /opt/build \
    && /opt/build/bin/pip install --no-cache-dir --require-hashes --no-deps --only-binary=:all: \
        -r requirements/build.lock \
    && python -m venv --without-pip /opt/vaultui \
    && /opt/build/bin/pip --python /opt/vaultui/bin/python install --no-cache-dir \
        --require-hashes --no-deps --only-binary=:all: -r requirements/image.lock
# A C compiler for vaultui's own BSON checker (engine/archive/_bsoncheck.c), in this stage only. Debian's gcc is taken
# as bookworm ships it: its point releases replace the exact version, so a version pin would break the build.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install --yes --no-install-recommends gcc libc6-dev \
    && rm -rf /var/lib/apt/lists/*
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY vaultui ./vaultui
# The project itself: built offline against the locked setuptools, installed without touching its dependencies.
# The checker's extension is optional to pip (an install without a compiler still works, slower): here its
# absence fails the build.
RUN /opt/build/bin/pip wheel --no-cache-dir --no-deps --no-build-isolation --no-index --wheel-dir /wheels . \
    && /opt/build/bin/pip --python /opt/vaultui/bin/python install --no-cache-dir --no-deps --no-index \
        /wheels/vaultui-*.whl \
    && /opt/vaultui/bin/python -c "import engine.archive._bsoncheck"

# --- runtime: the base image plus the venv; no pip, no setuptools, no build tools ---
FROM ${PYTHON_IMAGE}
ENV PATH=/opt/vaultui/bin:$PATH PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 HOME=/tmp
# The base image's own pip goes too: nothing installs at run time.
RUN python -m pip uninstall --yes --quiet pip \
    && useradd --uid 10001 --user-group --no-create-home --home-dir /tmp --shell /usr/sbin/nologin vaultui
COPY --from=builder /opt/vaultui /opt/vaultui
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["vaultui"]
CMD ["--help"]
