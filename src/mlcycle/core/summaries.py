"""What a dev-time run did, read from its records and rendered for a terminal."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mlcycle.core.names import TRAINING_TASKS, Record, record_key


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

    @property
    def succeeded(self) -> bool:
        return self.state == "success"

    def render(self) -> str:
        r = self.records
        lines = [f"mlcycle: {self.dag_id} run {self.run_id}: {self.state.upper()}"]
        lines.append("  tasks: " + ", ".join(f"{t}={self.task_states.get(t, '-')}" for t in TRAINING_TASKS))
        snap = r.get("ingest")
        if snap:
            lines.append(
                f"  snapshot: {snap['rows']} rows, window {snap['window_start']} .. {snap['window_end']}\n"
                f"            {snap['uri']} (sha256 {snap['sha256'][:12]})"
            )
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
        lines.append(f"  artifacts: {self.artifact_root}/{record_key(self.dag_id, self.run_id, '')}")
        return "\n".join(lines)


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
        if self.retrain is not None:
            retrain = f"retrained -> v{(self.retrain.records.get('promotion') or {}).get('version', '?')}"
        elif act.get("retrain") is False and act.get("counts"):
            retrain = "guarded"
        else:
            retrain = "-"
        return [
            f"{start}..{end}",
            str(win.get("rows", "-")),
            (f"v{score['model_version']}" + (" FALLBACK" if score.get("served_by") == "fallback" else ""))
            if score.get("model_version")
            else "-",
            f"{dataset['share']:.2f}" if "share" in dataset else "-",
            f"{domain['auc']:.3f}" if "auc" in domain else "-",
            f"{pred['score']:.3f}" if pred.get("score") is not None else "-",
            _quality_cell(quality, dec),
            dec.get("status", self.state if self.state != "success" else "skipped"),
            _alert_cell(act) + " / " + retrain,
        ]


def _quality_cell(quality: dict[str, Any], dec: dict[str, Any]) -> str:
    """The realized roc_auc and, when estimated, the label-free estimate beside it."""
    cell = ", ".join(f"{k}={v:.3f}" for k, v in quality.items() if k == "roc_auc" and v is not None)
    if dec.get("estimated") is not None and dec.get("primary_metric") == "roc_auc":
        cell = (cell + " " if cell else "roc_auc ") + f"est {dec['estimated']:.3f}"
    return cell or "-"


def _alert_cell(act: dict[str, Any]) -> str:
    if not act.get("alert"):
        return "-"
    failed = act.get("alert_failures") or {}
    return f"alert (failed: {', '.join(sorted(failed))})" if failed else "alert"


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
