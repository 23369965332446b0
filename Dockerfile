# The project image: Airflow's official image plus the runtime stack of requirements-runtime.lock
# (hash-checked; no test or dev tool) and this package. Every Airflow service of docker-compose.yml
# and the MLflow server run it, so the versions that CI tests are the versions that run.
# Build: `docker compose build` (or `docker build -t mlcycle .`).
# tests/integration/deploy/test_compose.py checks that the base image's Airflow version matches the lock.
#
# BASE_IMAGE is pinned by tag: its digest could not be read here (Docker Hub is unreachable from
# this project's CI), so pin `apache/airflow:3.3.2-python3.11@sha256:...` where you can read it.
# `make test-compose` builds on a stand-in made here (deploy/compose-test/base.Containerfile: Debian
# bookworm's Python 3.11 and the pinned Airflow, laid out as the official image), so every step
# below runs in CI.
ARG BASE_IMAGE=apache/airflow:3.3.2-python3.11
FROM ${BASE_IMAGE}

WORKDIR /opt/mlcycle
USER airflow

# Dependencies first (their layer is cached while only the code changes). The lock pins apache-airflow
# itself, so pip cannot move Airflow away from the base image's version; every file is checked
# against the lock's hashes. --no-deps: the lock is the whole resolved closure (pip's hash mode would
# otherwise demand a pin for each `pkg[extra]` a dependency asks for).
# The admin password file lives on a named volume mounted here; the directory must be the airflow
# user's before the volume is first created from it.
RUN mkdir -p /opt/airflow/auth

COPY --chown=airflow:0 requirements-runtime.lock ./
RUN pip install --no-cache-dir --no-deps --require-hashes -r requirements-runtime.lock

COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 src/ src/
RUN pip install --no-cache-dir --no-deps . && rm -rf build src/*.egg-info

COPY --chown=airflow:0 dags/ dags/
COPY --chown=airflow:0 plugins/ plugins/
COPY --chown=airflow:0 config/ config/

# Declared here, after the dependency layer: a new commit must not invalidate pip's cached layer.
ARG MLCYCLE_GIT_COMMIT=unknown
# Where mlcycle and Airflow find the project inside the image (src/mlcycle/settings.py, config.py).
# Data, artifacts and MLflow are set per deployment in docker-compose.yml.
ENV MLCYCLE_PROJECT_ROOT=/opt/mlcycle \
    MLCYCLE_CONFIG_DIR=/opt/mlcycle/config/pipelines \
    MLCYCLE_DATA_ROOT=/opt/mlcycle \
    MLCYCLE_HOME=/opt/airflow/mlcycle \
    MLCYCLE_GIT_COMMIT=${MLCYCLE_GIT_COMMIT} \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/mlcycle/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/mlcycle/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False

WORKDIR /opt/airflow
