# syntax=docker/dockerfile:1
# lucid-tron-worker image: `tron-worker run` by default, `tron-worker devnet ...` for the emulator.
#
#   docker build -t lucid-tron-worker .
#
# Two stages: the builder makes a virtualenv with the project and its
# dependencies; the runtime stage copies only that virtualenv and settings.toml,
# so no compiler, pip cache or source tree reaches the final image.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

# pip compiles bytecode at install time on purpose: the runtime's filesystem is read-only.
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

# Same path as in the runtime stage: a venv's scripts hard-code their interpreter path.
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src

# Dependencies first, from pyproject.toml alone, so a code change reuses this layer.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt

# Then the project itself (a regular, non-editable install into the venv).
COPY worker ./worker
COPY handlers ./handlers
COPY schemas ./schemas
COPY devnet ./devnet
RUN pip install --no-deps . \
    && python -c "import worker.cli"


FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="lucid-tron-worker" \
      org.opencontainers.image.description="Executes TRON payment commands from RabbitMQ exactly once in effect and reports every outcome as an event." \
      org.opencontainers.image.licenses="Proprietary"

# The installed package does not contain settings.toml (it lives at the repository
# root), so worker/settings.py is told where the image keeps it.
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH=/opt/venv/bin:$PATH \
    HOME=/tmp \
    TRON_WORKER_SETTINGS_FILE=/etc/tron-worker/settings.toml

COPY --from=builder /opt/venv /opt/venv
# Root-owned and not writable by the worker: settings change by image or environment only.
COPY settings.toml /etc/tron-worker/settings.toml

WORKDIR /tmp

# Distroless' "nonroot" ids; no passwd entry needed, and the root filesystem can be read-only.
USER 65532:65532

# Sidecar: /health/live, /health/ready, /metrics (sidecar.port in settings.toml).
EXPOSE 8091

# Liveness, not readiness: a worker whose broker is briefly down is alive and must
# not be restarted for it; urllib because the slim image has no curl.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8091/health/live', timeout=4)"]

ENTRYPOINT ["tron-worker"]
CMD ["run"]
