"""What a dev-time run did, read from its records and rendered for a terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlcycle.core.names import TRAINING_TASKS, Record, record_key


def _label_lines(snap: dict[str, Any]) -> list[str]:
    """What ingest did about labels: rows dropped for a null target, targets filled from data.labels."""
    out = []
    if snap.get("unlabelled_dropped"):
        out.append(
            f"  unlabelled: {snap['unlabelled_dropped']} row(s) dropped (target null: labels not landed yet)"
        )
    if snap.get("labels_filled"):
        out.append(f"  late labels: {snap['labels_filled']} target(s) filled from data.labels")
    return out


@dataclass
class RunSummary:
    pipeline: str
    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    records: dict[str, Any] = field(default_factory=dict)
    tracking_uri: str = ""
    artifact_root: str = ""
    errors: dict[str, str] = field(default_factory=dict)  # failed task id -> the first lines of its error

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def render(self) -> str:
        r = self.records
        lines = [f"mlcycle: {self.dag_id} run {self.run_id}: {self.state.upper()}"]
        lines.append("  tasks: " + ", ".join(f"{t}={self.task_states.get(t, '-')}" for t in TRAINING_TASKS))
        lines.extend(render_errors(self.errors, self.task_states))
        snap = r.get("ingest")
        if snap:
            skipped = snap.get("source_files_skipped") or 0
            read = (
                f", {snap['source_files'] - skipped} of {snap['source_files']} file(s) read"
                if skipped
                else ""
            )
            lines.append(
                f"  snapshot: {snap['rows']} rows, window {snap['window_start']} .. {snap['window_end']}{read}\n"
                f"            {snap['uri']} (sha256 {snap['sha256'][:12]})"
            )
            lines.extend(_label_lines(snap))
        checks = r.get("data_checks")
        if checks:
            failed = len(checks["failures"])
            lines.append(
                f"  data checks: {'passed' if checks['success'] else 'FAILED'}, "
                f"{checks['evaluated'] - failed}/{checks['evaluated']} expectations on {checks['rows']} rows"
            )
        ev = r.get("evaluation")
        if ev:
            primary = ev["primary_metric"]
            cand = ", ".join(f"{k}={v:.4f}" for k, v in ev["candidate"].items() if v is not None)
            lines.append(f"  candidate metrics (holdout {ev['holdout_rows']} rows): {cand}")
            champ = ev.get("champion")
            if champ:
                value = (champ.get("metrics") or {}).get(primary)
                shown = (
                    f"{primary}={value:.4f}" if value is not None else f"not scorable: {champ.get('error')}"
                )
                lines.append(f"  champion v{champ['version']} on the same holdout: {shown}")
            else:
                lines.append("  champion: none yet")
        dec = r.get("decision")
        if dec:
            lines.append(f"  gate: {dec['verdict']}" + (" (forced)" if dec.get("forced") else ""))
            lines.extend(f"    - {reason}" for reason in dec["reasons"])
        promo = r.get("promotion")
        if promo:
            lines.append(
                f"  model: {promo['model_name']} v{promo['version']}: {promo['why']}; "
                f"champion is now v{promo['champion']}"
            )
        lines.append(f"  MLflow: {self.tracking_uri}")
        if r:
            lines.append(f"  artifacts: {self.artifact_root}/{record_key(self.dag_id, self.run_id, '')}")
        else:
            lines.append("  artifacts: none published (no task recorded anything)")
        return "\n".join(lines)


ERROR_LINES = 6


def error_head(error: Any, lines: int = ERROR_LINES) -> str:
    """The first non-empty lines of an error: where mlcycle's errors name the file, key or column and the fix."""
    text = f"{type(error).__name__}: {error}" if isinstance(error, BaseException) else str(error or "")
    return "\n".join([line for line in text.splitlines() if line.strip()][:lines])


def render_errors(errors: dict[str, str], task_states: dict[str, str]) -> list[str]:
    """The failing task(s) and the first lines of each error; a failure without a captured error still named."""
    failed = [t for t, st in task_states.items() if st == "failed"]
    lines: list[str] = []
    for task in dict.fromkeys([*failed, *errors]):
        lines.append(f"  FAILED task {task}:")
        text = errors.get(task, "no error captured: see the Airflow log")
        lines.extend(f"    {line}" for line in text.splitlines())
    return lines


# metrics of the quality column: regression pipelines show their errors, others the primary metric
REGRESSION_QUALITY = ("rmse", "mae")


def quality_cell(metrics: dict[str, Any], primary: str, decision: dict[str, Any] | None = None) -> str:
    """The window's quality on its labelled rows: RMSE and MAE when measured, else the primary metric;
    and, when the verdict has one, the label-free estimate beside it (``est …``)."""
    names = [m for m in REGRESSION_QUALITY if metrics.get(m) is not None] or [primary]
    cell = ", ".join(f"{m}={metrics[m]:.3f}" for m in names if isinstance(metrics.get(m), int | float))
    dec = decision or {}
    if dec.get("estimated") is not None:
        cell = (
            cell + " " if cell else f"{dec.get('primary_metric') or primary} "
        ) + f"est {dec['estimated']:.3f}"
    return cell or "-"


def action_cell(act: dict[str, Any], retrain: RunSummary | None) -> str:
    """What the guard did: the alert's outcome and the retrain's (``retrain disabled``, ``cooldown until …``)."""
    if not act:
        return "-"
    if retrain is not None:
        note = f"retrained -> v{(retrain.records.get('promotion') or {}).get('version', '?')}"
        if not retrain.succeeded:
            note = f"retrain {retrain.state.upper()}"
    else:
        note = act.get("note") or ("retrain requested" if act.get("retrain") else "-")
    if not act.get("alert") and note == "-":
        return "-"  # nothing to act on
    return f"{_alert_cell(act)} / {note}"


TRAINING_RECORDS = (Record.INGEST, Record.DATA_CHECKS, Record.EVALUATION, Record.DECISION, Record.PROMOTION)
MONITOR_RECORDS = (
    Record.WINDOW,
    Record.SCORE,
    Record.DRIFT,
    Record.DECISION,
    Record.ACTION,
    Record.SHADOW,
    Record.SHADOW_DECISION,
)


@dataclass
class WindowSummary:
    """One monitoring run, and the retrain it requested if any (executed in-process)."""

    dag_id: str
    run_id: str
    state: str
    task_states: dict[str, str]
    records: dict[str, Any]
    retrain: RunSummary | None = None
    primary_metric: str = "roc_auc"
    errors: dict[str, str] = field(default_factory=dict)
    seconds: float = 0.0

    def row(self) -> list[str]:
        r = self.records
        win, drift, dec, act, score = (
            r.get(k) or {} for k in ("window", "drift", "decision", "action", "score")
        )
        dataset = drift.get("dataset") or {}
        domain = drift.get("domain_classifier") or {}
        pred = dataset.get("prediction") or {}
        quality = (score.get("quality") or {}).get("metrics") or {}
        start = str(win.get("window_start", "?"))[:10]
        end = str(win.get("window_end", "?"))[:10]
        return [
            f"{start}..{end}",
            str(win.get("rows", "-")),
            (f"v{score['model_version']}" + (" FALLBACK" if score.get("served_by") == "fallback" else ""))
            if score.get("model_version")
            else "-",
            f"{dataset['share']:.2f}" if "share" in dataset else "-",
            f"{domain['auc']:.3f}" if "auc" in domain else "-",
            f"{pred['score']:.3f}" if pred.get("score") is not None else "-",
            quality_cell(quality, self.primary_metric, dec),
            str(dec.get("status", self.state if self.state != "success" else "skipped")),
            action_cell(act, self.retrain),
        ]


def _alert_cell(act: dict[str, Any]) -> str:
    if not act.get("alert"):
        return "no alert"
    failed = act.get("alert_failures") or {}
    if not failed:
        return "alert sent"
    return f"alert NOT sent ({', '.join(sorted(failed))} failed)"


def render_windows(windows: list[WindowSummary]) -> str:
    head = [
        "window",
        "rows",
        "model",
        "drift share",
        "domain AUC",
        "pred drift",
        "quality",
        "verdict",
        "action",
    ]
    rows = [head, *(w.row() for w in windows)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ["  ".join(c.ljust(widths[i]) for i, c in enumerate(r)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
