"""Build one Airflow training DAG per pipeline YAML.

Runs at DAG parse time: only Airflow's SDK and the config schema are imported here (notifiers are
built when a task fails); every task imports its heavy libraries inside its own body.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, get_parsing_context, task

from mlcycle.airflow.callbacks import (
    _no_retry_for_bad_data,
    _report_link,
    _run_context,
    alert_sender,
    failure_notifiers,
)
from mlcycle.airflow.docs import doc_md, monitor_doc_md
from mlcycle.airflow.lineage import declare, declared
from mlcycle.airflow.links import attach_links
from mlcycle.airflow.manual import build_approve_dag, build_rollback_dag
from mlcycle.airflow.placement import place_tasks
from mlcycle.config.loader import Pipeline, load_all, load_pipeline, pipeline_files
from mlcycle.core.names import Record, Task
from mlcycle.errors import MlcycleError


def build_training_dag(pipe: Pipeline) -> DAG:
    cfg = pipe.config
    config_path = str(Path(pipe.path).resolve())
    default_args = {
        "owner": cfg.owner,
        "retries": cfg.retries,
        "retry_delay": timedelta(minutes=cfg.retry_delay_minutes),
        "on_failure_callback": failure_notifiers(pipe),
    }
    start = datetime(cfg.start_date.year, cfg.start_date.month, cfg.start_date.day, tzinfo=UTC)
    with DAG(
        dag_id=pipe.train_dag_id,
        description=(cfg.description or f"Training pipeline {pipe.name}").strip()[:200],
        schedule=cfg.schedule,
        start_date=start,
        catchup=cfg.catchup,
        max_active_runs=1,
        tags=["mlcycle", "training", *cfg.tags],
        default_args=default_args,
        doc_md=doc_md(pipe),
        params={
            "force_promote": Param(
                False,
                type="boolean",
                description="Promote even if the gate rejects the model (recorded as forced).",
            ),
            "skip_promotion": Param(
                False,
                type="boolean",
                description="Dry run: register the version; if it passes it becomes challenger, champion is not moved.",
            ),
            "lookback_days": Param(
                None,
                type=["null", "integer"],
                minimum=1,
                description="Override data.window.lookback_days for this run (empty: use the YAML).",
            ),
            "data_end": Param(
                None,
                type=["null", "string"],
                format="date-time",
                description=(
                    "Train on data before this instant instead of the run's data interval end "
                    "(set by the drift monitor's retrain requests; empty: the data interval end)."
                ),
            ),
        },
    ) as dag:

        @task(task_id=Task.INGEST)
        def ingest_task() -> dict[str, Any]:
            from mlcycle.steps.context import open_env
            from mlcycle.steps.ingest import ingest

            ctx, end = _run_context()
            params = get_current_context()["params"]
            if params.get("data_end"):
                end = datetime.fromisoformat(str(params["data_end"]).replace("Z", "+00:00"))
            env = open_env(config_path, ctx)
            return declared(Task.INGEST, env, ingest(env, end, params.get("lookback_days")))

        @task(task_id=Task.CHECK_DATA)
        def check_data_task(snapshot: dict[str, Any]) -> dict[str, Any]:
            from mlcycle.core.records import Snapshot
            from mlcycle.steps.check_data import check_data
            from mlcycle.steps.context import open_env

            with _no_retry_for_bad_data():
                env = open_env(config_path, _run_context()[0])
                return declared(
                    Task.CHECK_DATA, env, check_data(env, Snapshot.from_xcom(snapshot)), snapshot=snapshot
                )

        @task(task_id=Task.TRAIN)
        def train_task(snapshot: dict[str, Any], checks: dict[str, Any]) -> dict[str, Any]:
            from mlcycle.core.records import DataChecks, Snapshot
            from mlcycle.steps.context import open_env
            from mlcycle.steps.train import train

            with _no_retry_for_bad_data():
                env = open_env(config_path, _run_context()[0])
                out = train(env, Snapshot.from_xcom(snapshot), DataChecks.from_xcom(checks))
                return declared(Task.TRAIN, env, out, snapshot=snapshot, checks=checks)

        @task(task_id=Task.EVALUATE)
        def evaluate_task(snapshot: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
            from mlcycle.core.records import Snapshot, TrainResult
            from mlcycle.steps.context import open_env
            from mlcycle.steps.evaluate import evaluate

            env = open_env(config_path, _run_context()[0])
            out = evaluate(env, Snapshot.from_xcom(snapshot), TrainResult.from_xcom(trained))
            return declared(Task.EVALUATE, env, out, snapshot=snapshot, trained=trained)

        @task(task_id=Task.VALIDATE_MODEL)
        def validate_task(evaluation: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
            from mlcycle.core.records import Evaluation, TrainResult
            from mlcycle.steps.context import open_env
            from mlcycle.steps.validate import validate_model

            force = bool(get_current_context()["params"].get("force_promote"))
            env = open_env(config_path, _run_context()[0])
            out = validate_model(env, Evaluation.from_xcom(evaluation), TrainResult.from_xcom(trained), force)
            return declared(Task.VALIDATE_MODEL, env, out, trained=trained)

        @task(task_id=Task.REGISTER_AND_PROMOTE)
        def promote_task(
            trained: dict[str, Any],
            snapshot: dict[str, Any],
            checks: dict[str, Any],
            evaluation: dict[str, Any],
            decision: dict[str, Any],
        ) -> dict[str, Any]:
            from mlcycle.core.records import DataChecks, Evaluation, GateDecision, Snapshot, TrainResult
            from mlcycle.steps.context import open_env
            from mlcycle.steps.promote import register_and_promote

            skip = bool(get_current_context()["params"].get("skip_promotion"))
            env = open_env(config_path, _run_context()[0])
            out = register_and_promote(
                env,
                TrainResult.from_xcom(trained),
                Snapshot.from_xcom(snapshot),
                DataChecks.from_xcom(checks),
                Evaluation.from_xcom(evaluation),
                GateDecision.from_xcom(decision),
                skip,
            )
            return declared(
                Task.REGISTER_AND_PROMOTE, env, out, snapshot=snapshot, trained=trained, decision=decision
            )

        snapshot = ingest_task()
        checks = check_data_task(snapshot)
        trained = train_task(snapshot, checks)
        evaluation = evaluate_task(snapshot, trained)
        decision = validate_task(evaluation, trained)
        promote_task(trained, snapshot, checks, evaluation, decision)
    attach_links(dag)
    place_tasks(dag, cfg.execution)
    return dag


def build_monitor_dag(pipe: Pipeline) -> DAG:
    from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
    from airflow.sdk import CronDataIntervalTimetable

    cfg = pipe.config
    mon = cfg.monitoring
    config_path = str(Path(pipe.path).resolve())
    first = mon.start_date or cfg.start_date
    default_args = {
        "owner": cfg.owner,
        "retries": cfg.retries,
        "retry_delay": timedelta(minutes=cfg.retry_delay_minutes),
        "on_failure_callback": failure_notifiers(pipe),
    }
    with DAG(
        dag_id=pipe.monitor_dag_id,
        description=f"Drift monitor for {pipe.name}: score each window with the champion, detect drift",
        schedule=CronDataIntervalTimetable(mon.cron, timezone="UTC"),
        start_date=datetime(first.year, first.month, first.day, tzinfo=UTC),
        catchup=mon.catchup,
        max_active_runs=1,
        tags=["mlcycle", "monitoring", *cfg.tags],
        default_args=default_args,
        doc_md=monitor_doc_md(pipe),
        params={
            "allow_retrain": Param(
                None,
                type=["null", "boolean"],
                description=(
                    "Override monitoring.retrain.enabled for this run (and allow it in a backfill); "
                    "empty: follow the YAML. The cooldown and running-retrain guards still apply."
                ),
            ),
        },
    ) as dag:

        @task(task_id=Task.LOAD_WINDOW)
        def load_window_task() -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

            from mlcycle.steps.context import open_env
            from mlcycle.steps.monitor.window import EmptyWindowError, load_window

            context = get_current_context()
            start, end = context["data_interval_start"], context["data_interval_end"]
            env = open_env(config_path, _run_context()[0])
            try:
                return declared(Task.LOAD_WINDOW, env, load_window(env, start, end))
            except EmptyWindowError as exc:
                if env.pipe.config.monitoring.on_empty == "skip":
                    raise AirflowSkipException(f"skipping this window: {exc}") from exc
                raise AirflowFailException(str(exc)) from exc

        @task(task_id=Task.SCORE)
        def score_task(window: dict[str, Any]) -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowFailException

            from mlcycle.core.records import Window
            from mlcycle.core.scoring import UnseenLabelError
            from mlcycle.steps.context import open_env
            from mlcycle.steps.monitor.score import NoChampionError, score

            context = get_current_context()
            env = open_env(config_path, _run_context()[0])
            try:
                out = score(env, Window.from_xcom(window), notify=alert_sender(env.pipe, context))
                return declared(Task.SCORE, env, out, window=window)
            except (NoChampionError, UnseenLabelError) as exc:
                raise AirflowFailException(str(exc)) from exc

        @task(task_id=Task.DETECT_DRIFT)
        def detect_task(window: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
            from mlcycle.core.records import Scored, Window
            from mlcycle.steps.context import open_env
            from mlcycle.steps.monitor.drift import detect_drift

            env = open_env(config_path, _run_context()[0])
            out = detect_drift(env, Window.from_xcom(window), Scored.from_xcom(scored))
            return declared(Task.DETECT_DRIFT, env, out, window=window, scored=scored)

        @task(task_id=Task.DECIDE)
        def decide_task(drift: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
            from mlcycle.core.records import DriftResult, Scored
            from mlcycle.steps.context import open_env
            from mlcycle.steps.monitor.decide import decide

            env = open_env(config_path, _run_context()[0])
            out = decide(env, DriftResult.from_xcom(drift), Scored.from_xcom(scored))
            return declared(Task.DECIDE, env, out, drift=drift, scored=scored)

        @task.short_circuit(task_id=Task.ACT)
        def act_task(decision: dict[str, Any]) -> bool:
            from mlcycle.core.records import WindowVerdict
            from mlcycle.steps.context import open_env
            from mlcycle.steps.monitor.decide import act

            context = get_current_context()
            ctx = _run_context()[0]
            env = open_env(config_path, ctx)
            # the Task SDK gives a str-Enum: str() of it is "DagRunType.BACKFILL", not "backfill"
            run_type = getattr(context["dag_run"], "run_type", None)
            active = context["ti"].get_dr_count(dag_id=pipe.train_dag_id, states=["queued", "running"])
            taken = act(
                env,
                WindowVerdict.from_xcom(decision),
                active_training_runs=int(active or 0),
                is_backfill=getattr(run_type, "value", run_type) == "backfill",
                retrain_param=context["params"].get("allow_retrain"),
                send_alert=alert_sender(env.pipe, context),
                report_link=_report_link(ctx.dag_id, ctx.run_id, Record.DRIFT_REPORT_HTML),
            )
            declare(Task.ACT, env, taken, verdict=decision)
            return taken.retrain

        @task(task_id=Task.JOIN_LABELS)
        def join_labels_task() -> list[dict[str, Any]]:
            from mlcycle.steps.context import open_env
            from mlcycle.steps.monitor.labels import join_labels, realized_alert

            # labels landed by this window's end (data time): a backfill joins what had landed then
            context = get_current_context()
            env = open_env(config_path, _run_context()[0])
            outcomes = join_labels(env, as_of=context["data_interval_end"], allow_missing=True)
            run_type = getattr(context["dag_run"], "run_type", None)
            backfill = getattr(run_type, "value", run_type) == "backfill"  # past windows: recorded, not paged
            if (text := realized_alert(env, outcomes)) and not backfill:
                alert_sender(env.pipe, context)(text)
            return [o.to_dict() for o in outcomes]

        @task(task_id=Task.SHADOW_SCORE)
        def shadow_score_task(window: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
            from mlcycle.core.records import Scored, Window
            from mlcycle.steps.context import open_env
            from mlcycle.steps.monitor.shadow import score_shadow

            env = open_env(config_path, _run_context()[0])
            out = score_shadow(env, Window.from_xcom(window), Scored.from_xcom(scored))
            return declared(Task.SHADOW_SCORE, env, out, window=window, model=env.pipe.model_name)

        @task(task_id=Task.SHADOW_DECIDE)
        def shadow_decide_task(record: dict[str, Any]) -> dict[str, Any]:
            from mlcycle.core.records import ShadowScore
            from mlcycle.steps.context import open_env
            from mlcycle.steps.monitor.shadow import judge_shadow

            context = get_current_context()
            env = open_env(config_path, _run_context()[0])
            out = judge_shadow(env, ShadowScore.from_xcom(record), notify=alert_sender(env.pipe, context))
            return declared(Task.SHADOW_DECIDE, env, out, model=env.pipe.model_name)

        trigger = TriggerDagRunOperator(
            task_id=Task.TRIGGER_RETRAIN,
            trigger_dag_id=pipe.train_dag_id,
            trigger_run_id="drift_retrain__{{ run_id }}",
            logical_date=None,
            conf={"data_end": "{{ data_interval_end.isoformat() }}"},
            skip_when_already_exists=True,
            retries=0,
        )

        window = load_window_task()
        scored = score_task(window)
        drift = detect_task(window, scored)
        decision = decide_task(drift, scored)
        acted = act_task(decision)
        acted >> trigger
        if cfg.data.labels is not None:  # earlier windows' late labels, joined before the guard counts
            join_labels_task() >> acted
        if cfg.promotion.mode == "shadow":
            shadow_decide_task(shadow_score_task(window, scored))
    attach_links(dag)
    place_tasks(dag, cfg.execution)
    return dag


def _pipelines_for_task(directory: str | None) -> list[Pipeline] | None:
    """When a worker parses this file to run one task, just that DAG's pipeline (else None: all).

    Airflow names the DAG it parses for in the parsing context; a worker then needs one YAML, not
    every pipeline's DAGs (with 100 pipelines that is most of a task's start-up).
    """
    dag_id = get_parsing_context().dag_id
    if not dag_id or "__" not in dag_id:
        return None
    name = dag_id.rsplit("__", 1)[0]
    files = [f for f in pipeline_files(directory) if f.stem == name]
    if len(files) != 1:
        return None  # unknown or ambiguous: the full load reports it
    pipe = load_pipeline(files[0])
    ids = (pipe.train_dag_id, pipe.monitor_dag_id, pipe.rollback_dag_id, pipe.approve_dag_id)
    return [pipe] if dag_id in ids else None


def build_dags(directory: str | None = None) -> dict[str, DAG]:
    """Every pipeline's DAGs by dag_id; any invalid YAML fails the parse with all errors listed."""
    only = _pipelines_for_task(directory)
    pipes, errors = (only, []) if only is not None else load_all(directory)
    if errors:
        problems = [line for err in errors for line in str(err).splitlines()]
        raise MlcycleError("invalid pipeline YAML; fix it or run `mlcycle lint`:\n" + "\n".join(problems))
    dags = {pipe.train_dag_id: build_training_dag(pipe) for pipe in pipes}
    for pipe in pipes:
        if pipe.config.monitoring_enabled:
            dags[pipe.monitor_dag_id] = build_monitor_dag(pipe)
        dags[pipe.rollback_dag_id] = build_rollback_dag(pipe)
        dags[pipe.approve_dag_id] = build_approve_dag(pipe)
    return dags
