"""The DAGs' Markdown docs, shown in the Airflow UI."""

from __future__ import annotations

from typing import Any

from mlcycle.config.catalogs import LOWER_IS_BETTER
from mlcycle.config.loader import Pipeline


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


def _domain_text(mon: Any) -> str:
    if mon.drift.domain_auc_threshold is not None:
        return f"{mon.drift.domain_auc_threshold} (fixed)"
    return f"the model's no-drift baseline + {mon.drift.domain_auc_margin} (or more)"


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
| Drift | per column on every row (Wasserstein / Jensen-Shannon, threshold {mon.drift.column_threshold or 0.1}); dataset drift at share >= {mon.drift.share_threshold}; prediction drift {"on" if mon.drift.prediction_drift else "off"}; domain classifier AUC >= {_domain_text(mon) if mon.drift.domain_classifier else "off"} |
| Quality | primary `{cfg.evaluation.primary_metric}` may drop at most {mon.quality.max_drop} vs. validation: on labels (`{mon.quality.label_column or cfg.data.target}`) when present (`degraded`), else estimated without labels for binary classifiers (`at_risk`) |
| Verdict | `ok`, `drift` (data moved, model not shown to suffer), `at_risk`, `degraded`; alerts on {", ".join(mon.alert_on) or "nothing"} |
| Retrain | {retrain} |
| Shadow | {shadow} |

Steps: load_window → score → detect_drift → decide → act → trigger_retrain. Reports (the window
report, Evidently HTML and JSON, predictions) are linked from each run through the "mlcycle records"
view; decide has a "Window report" link (the verdict and why), detect_drift an "Evidently report" link. **Trigger param** `allow_retrain`: true allows a retrain (also in a
backfill), false forbids it, empty follows the YAML; `action.json` records it.
"""
