# vaultui image: Python slim, non-root, read-only-root friendly (HOME and scratch on /tmp).
# The real MongoDB Database Tools are optional: add them to PATH for `--dumper mongodump` / `--loader mongorestore`.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 HOME=/tmp
WORKDIR /src
COPY pyproject.toml README.md ./
COPY engine ./engine
COPY vaultui ./vaultui
RUN pip install . && rm -rf /src

RUN useradd --uid 10001 --user-group --no-create-home --shell /usr/sbin/nologin vaultui
USER 10001:10001
WORKDIR /tmp
ENTRYPOINT ["vaultui"]
CMD ["--help"]
