"""Build one Airflow training DAG per pipeline YAML.

Runs at DAG parse time: only Airflow's SDK and the config schema are imported here (notifiers are
built when a task fails); every task imports its heavy libraries inside its own body.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Param, get_current_context, get_parsing_context, task

from mlcycle.config import LOWER_IS_BETTER, Pipeline, load_all, load_pipeline, pipeline_files
from mlcycle.errors import MlcycleError
from mlcycle.links import attach_links
from mlcycle.notifiers import DeferredNotifier, build_notifier
from mlcycle.placement import place_tasks

FAILURE_SUBJECT = "[mlcycle] {{ dag.dag_id }} failed: task {{ ti.task_id }} ({{ logical_date }})"
FAILURE_TEXT = (
    ":red_circle: mlcycle pipeline *{pipeline}* failed\n"
    "DAG: {{{{ dag.dag_id }}}} | task: {{{{ ti.task_id }}}} | try {{{{ ti.try_number }}}}\n"
    "Logical date: {{{{ logical_date }}}} | run: {{{{ run_id }}}}\n"
    "Error: {{{{ ((exception | string).splitlines()[:6] | join('\n')) if exception else 'see log' }}}}\n"
    "Log: {{{{ ti.log_url }}}}"
)
FAILURE_HTML = (
    "<p>mlcycle pipeline <b>{pipeline}</b> failed.</p>"
    "<ul><li>DAG: {{{{ dag.dag_id }}}}</li><li>Task: {{{{ ti.task_id }}}} (try {{{{ ti.try_number }}}})</li>"
    "<li>Logical date: {{{{ logical_date }}}}</li><li>Run: {{{{ run_id }}}}</li></ul>"
    "<pre>{{{{ ((exception | string).splitlines()[:12] | join('\n')) | e if exception else 'see the log' }}}}</pre>"
    '<p><a href="{{{{ ti.log_url }}}}">Task log</a></p>'
)


def failure_notifiers(pipe: Pipeline) -> list[DeferredNotifier]:
    """Slack and email notifiers from the YAML's notifications section (connection ids only)."""
    notes = pipe.config.notifications
    if "failure" not in notes.events:
        return []
    notifiers: list[DeferredNotifier] = []
    if notes.slack_conn_id:
        notifiers.append(
            DeferredNotifier(
                "slack", slack_webhook_conn_id=notes.slack_conn_id, text=FAILURE_TEXT.format(pipeline=pipe.name)
            )
        )
    if notes.email:
        notifiers.append(
            DeferredNotifier(
                "email",
                to=list(notes.email),
                subject=FAILURE_SUBJECT,
                html_content=FAILURE_HTML.format(pipeline=pipe.name),
                smtp_conn_id=notes.smtp_conn_id,
            )
        )
    return notifiers


def doc_md(pipe: Pipeline) -> str:
    cfg = pipe.config
    data, model, ev = cfg.data, cfg.model, cfg.evaluation
    notes = cfg.notifications
    channels = [c for c, on in (("Slack", notes.slack_conn_id), ("email", notes.email)) if on]
    notify = f" and notifies {' and '.join(channels)}" if channels and "failure" in notes.events else ""
    thresholds = ", ".join(
        f"{k} {'<=' if k in LOWER_IS_BETTER else '>='} {v}" for k, v in ev.thresholds.items()
    )
    return f"""### {pipe.name}: training pipeline

{cfg.description or ""}

**Config**: `{pipe.path}` (sha256 `{pipe.config_sha256[:12]}`)

| | |
|---|---|
| Data | `{data.source}` ({data.format}); target `{data.target}`; {len(data.features.numeric)} numeric, {len(data.features.categorical)} categorical features |
| Window | {f"trailing {data.window.lookback_days} days before the data interval end" if data.window.lookback_days else "all rows"} |
| Checks | {len(cfg.checks.expectations)} Great Expectations expectations + at least {cfg.checks.min_rows} rows |
| Model | `{model.estimator}` ({model.task}), {model.split.strategy} split, test size {model.split.test_size}, seed {model.split.seed} |
| Gate | thresholds: {thresholds or "none"}; primary `{ev.primary_metric}` may regress at most {ev.max_regression} vs. the champion |
| Registry | MLflow model `{pipe.model_name}`, aliases `challenger` → `champion` |

Steps: ingest → check_data → train → evaluate → validate_model → register_and_promote.
A failure anywhere leaves the champion unchanged{notify}.

**Trigger params** (manual runs): `force_promote` promotes despite a failed gate (recorded as forced:
`decision.json` and the MLflow tag `mlcycle.forced=true`); `skip_promotion` registers without moving
`champion`; `lookback_days` and `data_end` change the training window.
**Links** on the task instances: "Data checks report" (check_data), "MLflow run" (train),
"MLflow model version" and "Model card" (register_and_promote, the HTML card).
"""


def _run_context() -> tuple[Any, datetime]:
    from mlcycle.training import RunContext

    context = get_current_context()
    ti = context["ti"]
    logical = context.get("logical_date")
    end = context.get("data_interval_end") or logical or context["dag_run"].run_after
    ctx = RunContext(
        dag_id=ti.dag_id,
        run_id=ti.run_id,
        logical_date=(logical or end).isoformat(),
        try_number=int(getattr(ti, "try_number", 1) or 1),
    )
    return ctx, end


@contextmanager
def _no_retry_for_bad_data() -> Iterator[None]:
    """Failed data checks and untrainable data fail the same way on every try: fail at once."""
    from airflow.sdk.exceptions import AirflowFailException

    from mlcycle.errors import ConfigError, DataCheckError, TrainingError

    try:
        yield
    except (DataCheckError, TrainingError, ConfigError) as exc:
        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


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
                False, type="boolean", description="Dry run: register the version; if it passes it becomes challenger, champion is not moved."
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

        @task(task_id="ingest")
        def ingest_task() -> dict[str, Any]:
            from mlcycle import stages

            ctx, end = _run_context()
            params = get_current_context()["params"]
            if params.get("data_end"):
                end = datetime.fromisoformat(str(params["data_end"]).replace("Z", "+00:00"))
            return stages.ingest(stages.open_env(config_path, ctx), end, params.get("lookback_days"))

        @task(task_id="check_data")
        def check_data_task(snapshot: dict[str, Any]) -> dict[str, Any]:
            from mlcycle import stages

            with _no_retry_for_bad_data():
                return stages.check_data(stages.open_env(config_path, _run_context()[0]), snapshot)

        @task(task_id="train")
        def train_task(snapshot: dict[str, Any]) -> dict[str, Any]:
            from mlcycle import stages

            with _no_retry_for_bad_data():
                return stages.train(stages.open_env(config_path, _run_context()[0]), snapshot)

        @task(task_id="evaluate")
        def evaluate_task(snapshot: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
            from mlcycle import stages

            record = stages.evaluate(stages.open_env(config_path, _run_context()[0]), snapshot, trained)
            return {
                "evaluation_uri": record["evaluation_uri"],
                "candidate": record["candidate"],
                "champion": record["champion"],
            }

        @task(task_id="validate_model")
        def validate_task(evaluation: dict[str, Any], trained: dict[str, Any]) -> dict[str, Any]:
            from mlcycle import stages

            force = bool(get_current_context()["params"].get("force_promote"))
            return stages.validate_model(
                stages.open_env(config_path, _run_context()[0]), evaluation, trained, force
            )

        @task(task_id="register_and_promote")
        def promote_task(
            trained: dict[str, Any], snapshot: dict[str, Any], decision: dict[str, Any]
        ) -> dict[str, Any]:
            from mlcycle import stages

            skip = bool(get_current_context()["params"].get("skip_promotion"))
            return stages.register_and_promote(
                stages.open_env(config_path, _run_context()[0]), trained, snapshot, decision, skip
            )

        snapshot = ingest_task()
        checks = check_data_task(snapshot)
        trained = train_task(snapshot)
        checks >> trained
        evaluation = evaluate_task(snapshot, trained)
        decision = validate_task(evaluation, trained)
        promote_task(trained, snapshot, decision)
    attach_links(dag)
    place_tasks(dag, cfg.execution)
    return dag


def monitor_doc_md(pipe: Pipeline) -> str:
    cfg = pipe.config
    mon = cfg.monitoring
    rt = mon.retrain
    retrain = (
        f"triggers `{pipe.train_dag_id}` on {' or '.join(rt.on)} when {rt.min_drifted_windows} of the last "
        f"{rt.of_last_windows} window(s) qualify, at most once per {rt.cooldown_hours:g} h and never while a "
        f"training run is queued or running; backfills {'may' if rt.on_backfill else 'never'} retrain"
        if rt.enabled
        else "off (monitoring.retrain.enabled is false; the allow_retrain param can request one)"
    )
    sh = cfg.promotion.shadow_policy
    shadow = (
        f"a challenger in shadow is scored on each window too (predictions under `shadow/`, never served); after "
        f"{sh.windows} window(s) it is promoted if it beats the champion on the labeled ones (at least "
        f"{sh.min_labeled_windows}; mean `{cfg.evaluation.primary_metric}` gain >= {sh.min_gain}, worse on at most "
        "half), else rejected: tasks shadow_score → shadow_decide"
        if cfg.promotion.mode == "shadow"
        else f"off (promotion.mode is {cfg.promotion.mode})"
    )
    return f"""### {pipe.name}: drift monitor

Scores each data interval's production rows with the `champion` of MLflow model `{pipe.model_name}`
and compares them with the champion's training snapshot.

| | |
|---|---|
| Window | the run's data interval ({mon.schedule}); source `{mon.source or cfg.data.source}`; fewer than {mon.min_rows} rows: {mon.on_empty} |
| Drift | per column on every row (Wasserstein / Jensen-Shannon, threshold {mon.drift.column_threshold or 0.1}); dataset drift at share >= {mon.drift.share_threshold}; prediction drift {"on" if mon.drift.prediction_drift else "off"}; domain classifier AUC >= {mon.drift.domain_auc_threshold if mon.drift.domain_classifier else "off"} |
| Quality | when labels (`{mon.quality.label_column or cfg.data.target}`) are present: primary `{cfg.evaluation.primary_metric}` may drop at most {mon.quality.max_drop} vs. validation |
| Retrain | {retrain} |
| Shadow | {shadow} |

Steps: load_window → score → detect_drift → decide → act → trigger_retrain. Reports (Evidently HTML
and JSON, predictions) are linked from each run through the "mlcycle records" view, and detect_drift
has a "Drift report" link. **Trigger param** `allow_retrain`: true allows a retrain (also in a
backfill), false forbids it, empty follows the YAML; `action.json` records it.
"""


def _drift_alert(pipe: Pipeline, context: Any, text: str) -> dict[str, str]:
    """Deliver an alert (drift, fallback serving) on every configured channel; return the channels that failed."""
    notes = pipe.config.notifications
    failures: dict[str, str] = {}
    if notes.slack_conn_id:
        try:
            build_notifier("slack", slack_webhook_conn_id=notes.slack_conn_id, text=text)(context)
        except Exception as exc:  # one channel failing must not stop the other
            failures["slack"] = type(exc).__name__
    if notes.email:
        from html import escape

        try:
            build_notifier(
                "email",
                to=list(notes.email),
                subject=f"[mlcycle] {pipe.name}: {text.splitlines()[0][:150]}",
                html_content=f"<pre>{escape(text)}</pre>",
                smtp_conn_id=notes.smtp_conn_id,
            )(context)
        except Exception as exc:
            failures["email"] = type(exc).__name__
    return failures


def _report_link(dag_id: str, run_id: str, name: str) -> str | None:
    from mlcycle.links import airflow_base_url, record_url

    base = airflow_base_url()
    return record_url(dag_id, run_id, name, base) if base else None


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

        @task(task_id="load_window")
        def load_window_task() -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

            from mlcycle import monitoring, stages

            context = get_current_context()
            start, end = context["data_interval_start"], context["data_interval_end"]
            env = stages.open_env(config_path, _run_context()[0])
            try:
                return monitoring.load_window(env, start, end)
            except monitoring.EmptyWindowError as exc:
                if env.pipe.config.monitoring.on_empty == "skip":
                    raise AirflowSkipException(f"skipping this window: {exc}") from exc
                raise AirflowFailException(str(exc)) from exc

        @task(task_id="score")
        def score_task(window: dict[str, Any]) -> dict[str, Any]:
            from airflow.sdk.exceptions import AirflowFailException

            from mlcycle import monitoring, stages

            context = get_current_context()
            env = stages.open_env(config_path, _run_context()[0])
            try:
                return monitoring.score(env, window, notify=lambda text: _drift_alert(env.pipe, context, text))
            except (monitoring.NoChampionError, monitoring.UnseenLabelError) as exc:
                raise AirflowFailException(str(exc)) from exc

        @task(task_id="detect_drift")
        def detect_task(window: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
            from mlcycle import monitoring, stages

            record = monitoring.detect_drift(stages.open_env(config_path, _run_context()[0]), window, scored)
            return {k: record[k] for k in ("window_key", "window_start", "window_end", "model_version")} | {
                "dataset": record["dataset"],
                "domain_classifier": record["domain_classifier"],
                "report": record["report"],
            }

        @task(task_id="decide")
        def decide_task(drift: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
            from mlcycle import monitoring, stages

            return monitoring.decide(stages.open_env(config_path, _run_context()[0]), drift, scored)

        @task.short_circuit(task_id="act")
        def act_task(decision: dict[str, Any]) -> bool:
            from mlcycle import monitoring, stages

            context = get_current_context()
            ctx = _run_context()[0]
            env = stages.open_env(config_path, ctx)
            # the Task SDK gives a str-Enum: str() of it is "DagRunType.BACKFILL", not "backfill"
            run_type = getattr(context["dag_run"], "run_type", None)
            active = context["ti"].get_dr_count(dag_id=pipe.train_dag_id, states=["queued", "running"])
            record = monitoring.act(
                env,
                decision,
                active_training_runs=int(active or 0),
                is_backfill=getattr(run_type, "value", run_type) == "backfill",
                retrain_param=context["params"].get("allow_retrain"),
                send_alert=lambda text: _drift_alert(env.pipe, context, text),
                report_link=_report_link(ctx.dag_id, ctx.run_id, "drift_report.html"),
            )
            return bool(record["retrain"])

        @task(task_id="shadow_score")
        def shadow_score_task(window: dict[str, Any], scored: dict[str, Any]) -> dict[str, Any]:
            from mlcycle import shadow, stages

            return shadow.score_shadow(stages.open_env(config_path, _run_context()[0]), window, scored)

        @task(task_id="shadow_decide")
        def shadow_decide_task(record: dict[str, Any]) -> dict[str, Any]:
            from mlcycle import shadow, stages

            context = get_current_context()
            env = stages.open_env(config_path, _run_context()[0])
            return shadow.judge_shadow(env, record, notify=lambda text: _drift_alert(env.pipe, context, text))

        trigger = TriggerDagRunOperator(
            task_id="trigger_retrain",
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
        act_task(decision) >> trigger
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


VERSION_PARAM: dict[str, Any] = {"type": ["null", "string"], "pattern": "^[0-9]+$"}


def _manual_dag(pipe: Pipeline, action: str, doc: str, params: dict[str, Param]) -> DAG:
    """``<name>__<action>``: one task that runs ``mlcycle.versioning.<action>`` with the run's params."""
    cfg = pipe.config
    config_path = str(Path(pipe.path).resolve())
    with DAG(
        dag_id=f"{pipe.name}__{action}",
        description=doc.splitlines()[0][:200],
        schedule=None,
        start_date=datetime(cfg.start_date.year, cfg.start_date.month, cfg.start_date.day, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        tags=["mlcycle", "versioning", *cfg.tags],
        default_args={"owner": cfg.owner, "retries": 0, "on_failure_callback": failure_notifiers(pipe)},
        doc_md=doc,
        params=params,
    ) as dag:

        @task(task_id=action)
        def versioning_task() -> dict[str, Any]:
            return _versioning_call(action, config_path)

        versioning_task()
    return dag


def _versioning_call(action: str, pipe_path: str) -> dict[str, Any]:
    """Run ``mlcycle.versioning.<action>`` for this DAG run; a refusal fails the run at once, loudly."""
    from airflow.sdk.exceptions import AirflowFailException

    from mlcycle import versioning
    from mlcycle.config import load_pipeline
    from mlcycle.errors import PromotionError
    from mlcycle.settings import load_settings

    context = get_current_context()
    params, ti = context["params"], context["ti"]
    common = {
        "reason": str(params.get("reason") or ""),
        "by": versioning.airflow_actor(),
        "via": f"DAG {ti.dag_id} run {ti.run_id}",
    }
    pipe, settings = load_pipeline(pipe_path), load_settings()
    try:
        if action == "rollback":
            return versioning.rollback(
                pipe, settings, to=params.get("version"), force=bool(params.get("force")), **common
            )
        return versioning.approve(pipe, settings, version=params.get("version"), **common)
    except PromotionError as exc:
        raise AirflowFailException(str(exc)) from exc


def build_rollback_dag(pipe: Pipeline) -> DAG:
    """``<name>__rollback``: move ``champion`` back from the UI (manual trigger with params)."""
    doc = f"""Roll back the champion of MLflow model `{pipe.model_name}` ({pipe.name}).

Trigger with params: `version` (empty: the champion before the current one), `reason`, and
`force` to allow a version that never passed the validation gate. The move is compare-and-set
under the model's alias lock and is recorded in the history (`mlcycle history {pipe.name}`),
with this run and its triggering user. Same as `mlcycle rollback {pipe.name}`.
"""
    params = {
        "version": Param(None, **{**VERSION_PARAM, "description": "Version to roll back to (empty: the previous champion)."}),
        "reason": Param("", type="string", maxLength=1000, description="Why; recorded in the history."),
        "force": Param(False, type="boolean", description="Allow a version that never passed the gate."),
    }
    return _manual_dag(pipe, "rollback", doc, params)


def build_approve_dag(pipe: Pipeline) -> DAG:
    """``<name>__approve``: promote the waiting challenger from the UI (promotion.mode: manual)."""
    doc = f"""Approve the waiting challenger of MLflow model `{pipe.model_name}` ({pipe.name}).

With `promotion.mode: manual` (now: `{pipe.config.promotion.mode}`) a model that passes the gate
becomes `challenger` and waits here. Trigger with `reason` (required) and optionally `version`
(empty: the challenger). Approval runs the same compare-and-set promotion as training: it
refuses if the champion moved since the version was validated. Recorded in the history.
Same as `mlcycle approve {pipe.name} --reason ...`.
"""
    params = {
        "version": Param(None, **{**VERSION_PARAM, "description": "Version to approve (empty: the challenger)."}),
        "reason": Param(
            type="string", minLength=1, maxLength=1000, description="Why it is approved (required); recorded."
        ),
    }
    return _manual_dag(pipe, "approve", doc, params)


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
