"""The ``mlcycle`` command line."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from mlcycle.cli.runs import cmd_backfill, cmd_demo, cmd_monitor, cmd_run
from mlcycle.errors import ConfigError, MlcycleError


def _verbose(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--verbose", action="store_true", help="stream Airflow's logs here instead of to the log file"
    )


def _cmd_lint(args: argparse.Namespace) -> int:
    from mlcycle.config.loader import load_all, pipeline_files

    directory = Path(args.directory) if args.directory else None
    files = pipeline_files(directory)
    if not files:
        print(f"{directory or 'config directory'}: no *.yaml pipeline files found", file=sys.stderr)
        return 2
    good, bad = load_all(directory)
    if args.deep:
        from mlcycle.cli.lint import deep_problems

        still_good = []
        for pipe in good:
            problems = deep_problems(pipe)
            if problems:
                bad.append(ConfigError(pipe.path, problems))
            else:
                still_good.append(pipe)
        good = still_good
    from datetime import UTC, datetime

    from mlcycle.cli.lint import schedule_warnings

    today = datetime.now(UTC).date()
    for pipe in good:
        dags = [pipe.train_dag_id] + ([pipe.monitor_dag_id] if pipe.config.monitoring_enabled else [])
        dags += [pipe.rollback_dag_id, pipe.approve_dag_id]
        print(f"ok    {pipe.path} -> DAGs {', '.join(dags)}")
        for warning in schedule_warnings(pipe, today):
            print(f"warn  {pipe.path}: {warning}")
    for err in bad:
        print(str(err), file=sys.stderr)
    print(f"{len(good)} valid, {len(bad)} invalid")
    return 1 if bad else 0


def _cmd_demo_data(args: argparse.Namespace) -> int:
    from mlcycle.adapters.sources import data_root
    from mlcycle.cli.demo import write_demo_data

    out = Path(args.out) if args.out else data_root() / "data" / "demo" / "churn"
    files = write_demo_data(out, rows=args.rows, seed=args.seed)
    print(f"wrote {len(files)} files ({args.rows} rows) to {out}")
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    from mlcycle.airflow.devrun import standalone

    return standalone(port=args.port)


def _versioning_args(args: argparse.Namespace) -> tuple:  # (Pipeline, Settings)
    from mlcycle.config.loader import find_pipeline
    from mlcycle.config.settings import load_settings

    return find_pipeline(args.pipeline), load_settings()


def _cli_via(args: argparse.Namespace) -> str:
    return "CLI: mlcycle " + " ".join(sys.argv[1:] or [args.command])


def _cmd_history(args: argparse.Namespace) -> int:
    import json

    from mlcycle.ops.history import history, render_history

    pipe, settings = _versioning_args(args)
    if args.at:
        from mlcycle.ops.history import live_at, render_live_at

        live = live_at(pipe, settings, _instant(args.at))
        print(json.dumps(live, indent=2) if args.json else render_live_at(live))
        return 0
    events = history(pipe, settings)
    print(json.dumps(events, indent=2) if args.json else render_history(pipe.model_name, events))
    return 0


def _instant(text: str) -> Any:
    from datetime import UTC, datetime

    from mlcycle.errors import MlcycleError

    try:
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise MlcycleError(f"--at {text!r}: use an ISO instant such as 2026-03-01T12:00:00+00:00") from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _cmd_rollback(args: argparse.Namespace) -> int:
    from mlcycle.ops.moves import cli_actor, rollback

    pipe, settings = _versioning_args(args)
    done = rollback(
        pipe,
        settings,
        to=args.to,
        reason=args.reason,
        by=args.by or cli_actor(),
        via=_cli_via(args),
        force=args.force,
    )
    forced = " (FORCED: it never passed the gate)" if done["forced"] else ""
    print(
        f"{done['model']}: champion rolled back from v{done['from_version']} to v{done['to_version']}{forced}"
    )
    return 0


def _cmd_approve(args: argparse.Namespace) -> int:
    from mlcycle.ops.moves import approve, cli_actor

    pipe, settings = _versioning_args(args)
    done = approve(
        pipe,
        settings,
        version=args.version,
        reason=args.reason,
        by=args.by or cli_actor(),
        via=_cli_via(args),
    )
    print(
        f"{done['model']}: v{done['version']} approved and promoted to champion "
        f"(replaced v{done['replaced'] or '-'})"
    )
    return 0


def _cmd_status(args: argparse.Namespace) -> int:
    import json

    from mlcycle.ops.status import render_status, status

    pipe, settings = _versioning_args(args)
    result = status(pipe, settings)
    print(json.dumps(result, indent=2, default=str) if args.json else render_status(result))
    return 0


def _cmd_lineage(args: argparse.Namespace) -> int:
    import json

    from mlcycle.ops.lineage import lineage, render_lineage

    pipe, settings = _versioning_args(args)
    if args.graph:
        from pathlib import Path

        from mlcycle.ops.lineage_graph import load_events, render_graph, version_graph

        source = Path(args.events) if args.events else settings.lineage_events
        graph = version_graph(load_events(source), pipe.model_name, args.version)
        print(json.dumps(graph, indent=2, default=str) if args.json else render_graph(graph, source))
        return 0
    result = lineage(pipe, settings, args.version)
    print(json.dumps(result, indent=2, default=str) if args.json else render_lineage(result))
    return 1 if result["missing"] else 0


def _cmd_labels(args: argparse.Namespace) -> int:
    import json

    from mlcycle.ops.labels import render_labels, run_labels

    pipe, settings = _versioning_args(args)
    outcomes = run_labels(pipe, settings)
    print(
        json.dumps([o.to_dict() for o in outcomes], indent=2) if args.json else render_labels(pipe, outcomes)
    )
    return 0


def _add_versioning_commands(sub: Any) -> None:
    hist = sub.add_parser(
        "history", help="every alias move of a pipeline's model (promotions, rollbacks, approvals)"
    )
    hist.add_argument("pipeline", help="pipeline name (the YAML file stem)")
    hist.add_argument("--json", action="store_true", help="print the events as JSON")
    hist.add_argument(
        "--at", metavar="ISO", help="name the champion at this instant and what scored the windows around it"
    )
    hist.set_defaults(func=_cmd_history)

    lab = sub.add_parser(
        "labels",
        help="join late labels (data.labels) to monitored windows scored without them: realized quality",
    )
    lab.add_argument("pipeline", help="pipeline name (the YAML file stem)")
    lab.add_argument("--json", action="store_true", help="print each window's outcome as JSON")
    lab.set_defaults(func=_cmd_labels)

    rb = sub.add_parser("rollback", help="move champion back to the previous (or a given) version")
    rb.add_argument("pipeline", help="pipeline name (the YAML file stem)")
    rb.add_argument(
        "--to", metavar="VERSION", help="version to roll back to (default: the previous champion)"
    )
    rb.add_argument("--force", action="store_true", help="allow a version that never passed the gate")
    rb.add_argument("--reason", default="", help="why (recorded in the history)")
    rb.add_argument("--by", help="who (default: the OS user)")
    rb.set_defaults(func=_cmd_rollback)

    ap = sub.add_parser("approve", help="promote the waiting challenger (promotion.mode: manual)")
    ap.add_argument("pipeline", help="pipeline name (the YAML file stem)")
    ap.add_argument("--version", help="version to approve (default: the challenger)")
    ap.add_argument("--reason", required=True, help="why (recorded in the history)")
    ap.add_argument("--by", help="who (default: the OS user)")
    ap.set_defaults(func=_cmd_approve)

    st = sub.add_parser(
        "status",
        help="champion, challenger (and its shadow comparison), their metrics, last training and monitoring runs",
    )
    st.add_argument("pipeline", help="pipeline name (the YAML file stem)")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=_cmd_status)

    li = sub.add_parser("lineage", help="what a model version was trained from and by (exit 1 if incomplete)")
    li.add_argument("pipeline", help="pipeline name (the YAML file stem)")
    li.add_argument("version", help="model version number")
    li.add_argument("--json", action="store_true")
    li.add_argument(
        "--graph",
        action="store_true",
        help="the chain source files -> snapshot -> version -> alias moves, from the OpenLineage events alone",
    )
    li.add_argument(
        "--events",
        metavar="FILE",
        help="OpenLineage events (JSON lines; default: $MLCYCLE_HOME/lineage/events.jsonl)",
    )
    li.set_defaults(func=_cmd_lineage)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mlcycle", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    lint = sub.add_parser("lint", help="validate pipeline YAML files (no Airflow needed)")
    lint.add_argument(
        "directory",
        nargs="?",
        help="directory of *.yaml files (default: $MLCYCLE_CONFIG_DIR or config/pipelines)",
    )
    lint.add_argument(
        "--deep",
        action="store_true",
        help="also build each expectation with Great Expectations and each estimator with scikit-learn",
    )
    lint.set_defaults(func=_cmd_lint)

    demo = sub.add_parser("demo-data", help="generate the demo churn data set")
    demo.add_argument("--out", help="output directory (default: data/demo/churn)")
    demo.add_argument("--rows", type=int, default=60_000)
    demo.add_argument("--seed", type=int, default=7)
    demo.set_defaults(func=_cmd_demo_data)

    run = sub.add_parser("run", help="run a pipeline's training DAG once, in-process (dag.test)")
    run.add_argument("pipeline", help="pipeline name (the YAML file stem)")
    run.add_argument(
        "--logical-date", help="ISO date-time of the run (default: now; not before the YAML's start_date)"
    )
    _verbose(run)
    run.set_defaults(func=cmd_run)

    mon = sub.add_parser(
        "monitor", help="run a pipeline's monitoring DAG in-process for each window ending in [FIRST, LAST]"
    )
    mon.add_argument("pipeline", help="pipeline name (the YAML file stem)")
    mon.add_argument("first", help="ISO date: the end of the first window (e.g. 2026-02-01)")
    mon.add_argument("last", nargs="?", help="ISO date: the end of the last window (default: FIRST)")
    mon.add_argument(
        "--no-retrain-runs",
        action="store_true",
        help="leave retrain requests queued for a scheduler instead of running them in-process",
    )
    _verbose(mon)
    mon.set_defaults(func=cmd_monitor)

    demo_run = sub.add_parser(
        "demo", help="generate the demo data if missing, train churn, then monitor the later months"
    )
    _verbose(demo_run)
    demo_run.set_defaults(func=cmd_demo)

    bf = sub.add_parser(
        "backfill",
        help="airflow backfill create for a pipeline's monitor (or --train) DAG, one run at a time "
        "(needs `mlcycle up` running)",
    )
    bf.add_argument("pipeline", help="pipeline name (the YAML file stem)")
    bf.add_argument("first", help="ISO date: the first logical date (a scheduled run's interval start)")
    bf.add_argument("last", help="ISO date: the last logical date")
    bf.add_argument("--train", action="store_true", help="backfill the training DAG instead of the monitor")
    bf.add_argument(
        "--allow-retrain", action="store_true", help="set the monitor runs' allow_retrain Param (may retrain)"
    )
    bf.set_defaults(func=cmd_backfill)

    up = sub.add_parser("up", help="airflow standalone with this project's dags, plugins and config")
    up.add_argument("--port", type=int, default=8080)
    up.set_defaults(func=_cmd_up)
    _add_versioning_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except MlcycleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
