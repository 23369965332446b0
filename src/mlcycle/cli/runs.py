"""``mlcycle run``, ``monitor``, ``demo`` and ``backfill``: the commands that run DAGs.

Each sets up its embedded Airflow home before anything imports Airflow, shows one line per task and
per window while Airflow's own output goes to a log file (``--verbose`` streams it), then prints the
summary.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from mlcycle.airflow.devrun import set_airflow_env
from mlcycle.cli.progress import Display, airflow_output, log_path
from mlcycle.config.settings import load_settings
from mlcycle.core.summaries import RunSummary, WindowSummary, render_errors, render_windows

RULE = "=" * 100
Outcome = RunSummary | list[WindowSummary] | str


def _with_display(args: argparse.Namespace, work: Callable[[Display], tuple[int, list[Outcome]]]) -> int:
    """Run ``work`` with Airflow's output in a log file; print the summaries on the restored terminal."""
    set_airflow_env()
    path = log_path(load_settings().home, args.command)
    if not args.verbose:
        print(f"Airflow logs: {path}  (--verbose streams them here)", flush=True)
    with airflow_output(path, args.verbose) as display:
        code, outcomes = work(display)
    for item in outcomes:
        print(RULE)
        if isinstance(item, RunSummary):
            print(item.render())
        elif isinstance(item, str):
            print(item)
        else:
            print_windows(item)
    return code


def print_windows(windows: list[WindowSummary]) -> None:
    print(render_windows(windows))
    for w in windows:
        if w.retrain is not None:
            print(
                f"\nretrain requested by {w.dag_id} ({w.retrain.records.get('requested_as')}), run in-process:"
            )
            print(w.retrain.render())
        elif w.state != "success":
            print(f"\n{w.dag_id} run {w.run_id}: {w.state.upper()}")
            print("\n".join(render_errors(w.errors, w.task_states)))


def _failed(windows: list[WindowSummary]) -> bool:
    return any(w.state != "success" or (w.retrain is not None and not w.retrain.succeeded) for w in windows)


def cmd_run(args: argparse.Namespace) -> int:
    from mlcycle.airflow.devrun import run_training

    def work(display: Display) -> tuple[int, list[Outcome]]:
        display.say(f"training {args.pipeline}:")
        summary = run_training(args.pipeline, logical_date=args.logical_date, conf={}, on_task=display.task)
        return (0 if summary.succeeded else 1), [summary]

    return _with_display(args, work)


def cmd_monitor(args: argparse.Namespace) -> int:
    set_airflow_env()
    from mlcycle.airflow.devrun import run_monitoring, window_ends
    from mlcycle.config.loader import find_pipeline

    pipe = find_pipeline(args.pipeline)
    ends = window_ends(args.first, args.last or args.first, pipe.config.monitoring.cron)
    if not ends:
        print(f"no {pipe.config.monitoring.schedule} window ends between {args.first} and {args.last}")
        return 2

    def work(display: Display) -> tuple[int, list[Outcome]]:
        display.say(f"monitoring {pipe.monitor_dag_id}, {len(ends)} window(s) in window order:")
        windows = run_monitoring(
            args.pipeline,
            ends,
            execute_retrains=not args.no_retrain_runs,
            on_task=display.task,
            on_window=display.window,
        )
        return (1 if _failed(windows) else 0), [windows]

    return _with_display(args, work)


def cmd_demo(args: argparse.Namespace) -> int:
    from mlcycle.adapters.sources import data_root
    from mlcycle.airflow.devrun import run_monitoring, run_training, window_ends
    from mlcycle.cli.demo import DEMO_LOGICAL_DATE, DEMO_MONITOR_FROM, DEMO_MONITOR_TO, write_demo_data

    set_airflow_env()
    data = data_root() / "data" / "demo" / "churn"
    if not any(data.glob("*.parquet")):
        files = write_demo_data(data)
        print(f"generated demo data: {len(files)} monthly files in {data}")

    def work(display: Display) -> tuple[int, list[Outcome]]:
        display.say("training churn:")
        summary = run_training("churn", logical_date=DEMO_LOGICAL_DATE, conf={}, on_task=display.task)
        if not summary.succeeded:
            return 1, [summary]
        display.say(
            f"monitoring churn__monitor over the months {DEMO_MONITOR_FROM[:7]} .. {DEMO_MONITOR_TO[:7]}:"
        )
        ends = window_ends(DEMO_MONITOR_FROM, DEMO_MONITOR_TO, "0 0 1 * *")
        windows = run_monitoring("churn", ends, on_task=display.task, on_window=display.window)
        if _failed(windows):
            return 1, [summary, windows]
        display.say("late labels: joining data/demo/churn_labels to the windows scored without them:")
        return 0, [summary, windows, demo_labels()]

    return _with_display(args, work)


def demo_labels() -> str:
    """``mlcycle labels churn`` after the demo's monitoring: June's labels landed after June was scored."""
    from mlcycle.config.loader import find_pipeline
    from mlcycle.ops.labels import render_labels, run_labels

    pipe = find_pipeline("churn")
    return "$ mlcycle labels churn\n" + render_labels(pipe, run_labels(pipe, load_settings()))


def cmd_backfill(args: argparse.Namespace) -> int:
    from mlcycle.airflow.devrun import create_backfill, is_paused
    from mlcycle.config.loader import find_pipeline

    set_airflow_env()
    pipe = find_pipeline(args.pipeline)
    dag_id = pipe.train_dag_id if args.train else pipe.monitor_dag_id
    conf = {"allow_retrain": True} if args.allow_retrain else None
    code, output = create_backfill(dag_id, args.first, args.last, conf)
    print(output)
    if code != 0:
        return code
    print(f"{dag_id}: backfill created, one run at a time (--max-active-runs 1): windows decided in order")
    if is_paused(dag_id) is not False:
        print(
            f"{dag_id} is paused: its backfill stays queued until you unpause it "
            f"(UI toggle, or `airflow dags unpause {dag_id}`); a running scheduler (`mlcycle up`) executes it"
        )
    return 0
