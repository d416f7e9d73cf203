# syntax=docker/dockerfile:1
#
# Qualia Core service image.
#
#   docker build -t qualia-core .
#   docker build -t qualia-core:dask --build-arg QUALIA_EXTRAS=dask .   (with extras: the image of the Dask
#                                      workers and scheduler, docker-compose.dask.yml)
#   docker run -p 8000:8000 -v qualia-data:/data qualia-core      (or: docker compose up)
#
# Why the image installs a built wheel and the README says `pip install -e '.[dev]'`:
# both are the same `pip install` of this project's pyproject.toml. The README's
# command is for developing: editable, so edits to the source tree take effect
# without reinstalling, plus the test tools of the `dev` extra. The image runs no
# tests and keeps no source tree, so it installs the non-editable wheel built
# from the same pyproject.toml, with the runtime dependencies only. That is
# exactly what tests/test_packaging.py checks on every `pytest` run (no Docker
# engine needed): it builds the wheel from this build context (filtered by
# .dockerignore), installs it into a fresh venv and runs `qualia version`,
# `qualia plugins`, `qualia doctor` and a pipeline from outside the source tree.
# Bundled plugins then run as `{python} -m qualia.plugins.<id>` from site-packages.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm
# optional extras of pyproject.toml, comma-separated (e.g. "dask"); none by default
ARG QUALIA_EXTRAS=""

# ---- stage 1: wheels of the project and of every dependency -------------------------------------
FROM ${PYTHON_IMAGE} AS wheels
ARG QUALIA_EXTRAS

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
# The context is small: .dockerignore leaves out .venv, .git, tests, caches and outputs.
# README.md must stay in it (pyproject's `readme`).
COPY . .
# Every dependency ships manylinux wheels for CPython 3.11 (x86_64 and aarch64); on a
# platform without them, add `apt-get install build-essential` to this stage only.
RUN --mount=type=cache,target=/root/.cache/pip \
    pip wheel --wheel-dir /wheels .${QUALIA_EXTRAS:+"[$QUALIA_EXTRAS]"} \
    && ls -l /wheels

# ---- stage 2: runtime, installed from /wheels only -----------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG QUALIA_EXTRAS

LABEL org.opencontainers.image.title="qualia-core" \
      org.opencontainers.image.description="Qualitative text to evidence through sandboxed plugins" \
      org.opencontainers.image.licenses="MIT"

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    QUALIA_HOME=/data

RUN groupadd --system --gid 10001 qualia \
    && useradd --system --uid 10001 --gid qualia --create-home --home-dir /home/qualia \
       --shell /usr/sbin/nologin qualia \
    && mkdir -p /data \
    && chown qualia:qualia /data

# No index: only the wheels built above; they are bind-mounted, so they leave no layer behind.
# pip byte-compiles while installing as root, so the non-root user never needs to write
# into site-packages. (DL3013: the version is pinned by /wheels, which holds one qualia-core.)
# hadolint ignore=DL3013
RUN --mount=type=bind,from=wheels,source=/wheels,target=/wheels \
    pip install --no-index --find-links=/wheels qualia-core${QUALIA_EXTRAS:+"[$QUALIA_EXTRAS]"} \
    && qualia version

# numeric, so `runAsNonRoot` checks can verify it: 10001 is `qualia`
USER 10001:10001
WORKDIR /home/qualia
# Build matplotlib's font cache now (in /home/qualia/.cache), not in the first plugin
# start of every new container; then check that every bundled plugin starts.
RUN python -c "import matplotlib.font_manager" \
    && QUALIA_HOME=/tmp/qualia-doctor qualia doctor \
    && rm -rf /tmp/qualia-doctor

# Result cache, jobs and logs. Declared after the chown above so a new named volume
# starts out owned by `qualia`.
VOLUME ["/data"]
EXPOSE 8000

# Plain python: slim images have no curl. Port 8000 as in CMD.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4).status == 200 else 1)"]

# The kernel starts plugin child processes; run with an init (`docker run --init`,
# compose `init: true`) so signals reach it and orphans are reaped.
CMD ["qualia", "serve", "--host", "0.0.0.0", "--port", "8000"]
