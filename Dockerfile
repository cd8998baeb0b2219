# syntax=docker/dockerfile:1
# bounce-processor image: `bounce-processor` as entry point, default rule set and Avro
# schemas under /opt/bounce-processor, non-root (uid/gid 10001), read-only root friendly.
#
#   docker build -t bounce-processor:0.1.0 .
#   docker run --rm -e BOUNCE_KAFKA__BOOTSTRAP_SERVERS=broker:9092 \
#       -e BOUNCE_REGISTRY__URL=http://registry:8081 bounce-processor:0.1.0 run
#
# The Helm chart (helm/bounce-processor) runs `run --config ... --stage qualify|state` and
# `rules publish DIR`, with /tmp and the state folder as writable volumes.

# Pin a digest (python:3.11-slim@sha256:...) for reproducible builds.
ARG PYTHON_IMAGE=python:3.11-slim

# ---- build: a wheel of the project, installed with its dependencies into a venv ----
FROM ${PYTHON_IMAGE} AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src
RUN python -m venv /opt/venv
COPY pyproject.toml README.md ./
COPY processor/ processor/
# The dependencies (confluent-kafka with librdkafka, fastavro, regex, rocksdict, ...)
# install from manylinux wheels: no compiler needed.
RUN /opt/venv/bin/pip wheel --no-deps --wheel-dir /dist . \
    && /opt/venv/bin/pip install /dist/*.whl \
    && /opt/venv/bin/bounce-processor --version

# ---- runtime: slim Python, the venv, the data folders, a non-root user ----
FROM ${PYTHON_IMAGE} AS runtime

ARG UID=10001
ARG GID=10001
RUN groupadd --system --gid "${GID}" bounce \
    && useradd --system --uid "${UID}" --gid bounce --no-create-home \
       --home-dir /nonexistent --shell /usr/sbin/nologin bounce \
    && mkdir -p /var/lib/bounce-processor \
    && chown "${UID}:${GID}" /var/lib/bounce-processor

COPY --from=build /opt/venv /opt/venv
COPY schemas/ /opt/bounce-processor/schemas/
COPY rules/ /opt/bounce-processor/rules/

ENV PATH=/opt/venv/bin:${PATH} \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    BOUNCE_SCHEMAS_DIR=/opt/bounce-processor/schemas \
    BOUNCE_RULES_DIR=/opt/bounce-processor/rules \
    BOUNCE_STATE_DIR=/var/lib/bounce-processor

WORKDIR /var/lib/bounce-processor
USER ${UID}:${GID}
# /healthz, /readyz, /metrics, /v1/quarantine/{address}
EXPOSE 8080
# Python is PID 1 and handles SIGTERM itself (finish or abort the batch, commit, leave
# the group, exit within shutdown.timeout_seconds).
ENTRYPOINT ["bounce-processor"]
CMD ["run"]
