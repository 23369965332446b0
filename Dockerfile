# The project image: Airflow's official image plus the pinned stack of requirements.lock and this
# package. Every Airflow service of docker-compose.yml and the MLflow server run it, so the versions
# that CI tests are the versions that run. Build: `docker compose build` (or `docker build -t mlcycle .`).
# tests/deploy/test_compose.py checks that the base image's Airflow version matches requirements.lock.
FROM apache/airflow:3.3.2-python3.11

ARG MLCYCLE_GIT_COMMIT=unknown

WORKDIR /opt/mlcycle
USER airflow

# Dependencies first (their layer is cached while only the code changes). The lock pins apache-airflow
# itself, so pip cannot move Airflow away from the base image's version.
# The admin password file lives on a named volume mounted here; the directory must be the airflow
# user's before the volume is first created from it.
RUN mkdir -p /opt/airflow/auth

COPY --chown=airflow:0 requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY --chown=airflow:0 pyproject.toml README.md ./
COPY --chown=airflow:0 src/ src/
RUN pip install --no-cache-dir --no-deps . && rm -rf build src/*.egg-info

COPY --chown=airflow:0 dags/ dags/
COPY --chown=airflow:0 plugins/ plugins/
COPY --chown=airflow:0 config/ config/

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
