#!/bin/bash
# As the official image's /entrypoint does for these cases: no argument -> a shell; bash/python run
# as given; anything else is an airflow subcommand (`api-server`, `celery worker`, ...).
if [[ $# -eq 0 ]]; then exec bash; fi
case "$1" in
  bash | python | python3) exec "$@" ;;
esac
exec airflow "$@"
