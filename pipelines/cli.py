"""Command line: ``python -m pipelines <command>``."""
from __future__ import annotations

import argparse
import logging
import subprocess
import sys
from pathlib import Path

from pipelines.dag import pipelines, read_dag, select

EPILOG = """examples:
  python -m pipelines list                  pipelines and their stages, from dvc.yaml
  python -m pipelines list --readme --write the README's pipelines table, regenerated
  python -m pipelines run tabular           reproduce one pipeline as a Prefect flow
  python -m pipelines run all               every pipeline
  PREFECT_API_URL=http://127.0.0.1:4200/api python -m pipelines run tabular
                                            ... reported to a running Prefect server (UI)

  python -m pipelines remote setup shared /mnt/shared/dvc-remote
                                            a DVC remote every host shares (or s3://…, ssh://…)
  python -m pipelines remote push           dvc push --run-cache (outputs + run-cache)
  python -m pipelines remote push tabular   only tabular's outputs and run-cache entries
  python -m pipelines remote pull           dvc pull --run-cache; lists the stages left to run here
  python -m pipelines serve retrain --cron "0 3 * * *"
                                            scheduled retraining with a quality gate
  python -m pipelines audit artifacts/tabular/train/model.pkl
                                            which params, data and code produced it, and its metrics
  python -m pipelines diff HEAD~1 HEAD      params, metrics and changed outputs of two revisions
  python -m pipelines deps --write          each stage's code deps in dvc.yaml, from its imports
  python -m pipelines deps --impact         how many stages an edit of each core module reruns
  python -m pipelines profile apply course gan
                                            the course's full settings into params.yaml (`default` switches back)
  python -m pipelines history tabular       tabular's params and metrics per commit and experiment
  python -m pipelines plots tabular         tabular's curves in dvc_plots/index.html (works offline)
  python -m pipelines runs tabular          recent stage runs: wall/CPU time, peak memory, host, commit
  python -m pipelines course-check transfer  the course profile end to end offline: real formats, book sizes
  python -m pipelines sweep tabular -S tabular.train.C=0.1,1,10 -j 2
                                            a parameter sweep on DVC's experiment queue, best marked

Without PREFECT_API_URL the flow runs against a temporary local Prefect server.
See docs/operations.md for the GPU-host handoff, scheduled retraining and auditing.
`dvc repro` and `python -m pipelines run` run the same stages and write the same dvc.lock.
"""


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1 (``-n 0`` or ``-n -5`` would list nothing or a slice's tail)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got '{text}'") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def cmd_list(args: argparse.Namespace) -> int:
    from pipelines.dag import GUARD_STAGES

    dag = read_dag(".")
    if args.readme or args.write:
        from pipelines import readme

        try:
            return readme.main(dag, ".", write=args.write)
        except readme.ReadmeError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    guards = [s.name for s in dag if s.name in GUARD_STAGES]
    if guards:
        print("before every pipeline:")
        for s in guards:
            print(f"  {s}")
    for name, stages in pipelines(dag).items():
        print(f"{name}:")
        for s in stages:
            print(f"  {s}")
    return 0


def cmd_metrics(args: argparse.Namespace) -> int:
    """Each pipeline's declared metrics in the workspace, one ``key  value`` line each."""
    from pipelines.dag import read_metrics

    dag = read_dag(".")
    groups = pipelines(dag)
    names = args.names or list(groups)
    unknown = [n for n in names if n not in groups]
    if unknown:
        print(f"error: unknown pipeline(s) {', '.join(unknown)} (known: {', '.join(groups)})", file=sys.stderr)
        return 2
    if args.headline:
        return print_headlines(dag, names)
    for name in names:
        found = read_metrics([s for s in dag if s.name in groups[name]])
        print(f"{name}:" + ("" if found else " no metrics yet (dvc repro)"))
        for path, values in found.items():
            print(f"  {path}")
            width = max(map(len, values), default=0)
            for key, value in values.items():
                print(f"    {key.ljust(width)}  {value:.4g}" if isinstance(value, float) else f"    {key.ljust(width)}  {value}")
    return 0


def print_headlines(dag, names: list[str]) -> int:
    """One line per pipeline: its headline metric (``meta.headline`` in dvc.yaml) and its value here."""
    from pipelines.dag import headline, read_metrics

    width = max(map(len, names), default=0)
    for name in names:
        try:
            head = headline(dag, name)
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if head is None:
            print(f"{name.ljust(width)}  no headline metric declared (all of them: python -m pipelines metrics {name})")
            continue
        value = read_metrics([s for s in dag if s.name == head.stage]).get(head.file, {}).get(head.metric)
        shown = "not yet computed (dvc repro)" if value is None else f"{value:.4g}" if isinstance(value, float) else value
        better = "higher" if head.higher_is_better else "lower"
        print(f"{name.ljust(width)}  {head.metric} = {shown}  ({better} is better; {head.file})")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from stages.core.errors import StageError
    from stages.core.params import load_file

    try:  # the whole params.yaml, before any stage runs: an unknown section no stage reads is caught too
        load_file()
    except StageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    dag = read_dag(".")
    try:
        select(dag, args.names)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    from pipelines.flows import repro_flow

    state = repro_flow(args.names, root=".", return_state=True)
    if not state.is_completed():
        print(f"error: flow run {state.name}: {state.message}", file=sys.stderr)
        return 1
    result = state.result()
    width = max(map(len, result["stages"]), default=0)
    print("\n  " + "stage".ljust(width) + " outcome")
    for stage, what in result["stages"].items():
        print(f"  {stage.ljust(width)} {what}")
    for path, values in result["metrics"].items():
        print(f"\n{path}")
        for key, value in values.items():
            print(f"  {key}: {value:.4f}" if isinstance(value, float) else f"  {key}: {value}")
    return 0


def stage_names(names: list[str]) -> list[str]:
    """Pipeline or stage names (or 'all') -> those stages and everything upstream; [] -> [] (all of dvc.lock)."""
    return [s.name for s in select(read_dag("."), names)] if names else []


def cmd_remote(args: argparse.Namespace) -> int:
    from pipelines import remote
    from pipelines.dvc_command import DvcError, dvc_executable

    try:
        if args.action == "setup":
            spec = remote.build_spec(
                args.name, args.url, root=Path("."), endpoint_url=args.endpoint_url, region=args.region,
                profile=args.profile, access_key_id=args.access_key_id, secret_access_key=args.secret_access_key,
                user=args.user, port=args.port, keyfile=args.keyfile)
            remote.setup_remote(spec, ".", default=not args.no_default)
            print(f"remote '{spec.name}' ({spec.kind}): {spec.url}" + (" [default]" if not args.no_default else ""))
            for key, value in spec.options:
                print(f"  {key} = {value}   (.dvc/config)")
            for key, _ in spec.secrets:
                print(f"  {key} = ***   (.dvc/config.local, not committed)")
            print("commit .dvc/config so every clone knows the remote: git add .dvc/config && git commit")
        elif args.action == "push":
            print(remote.push(".", args.remote, stage_names(args.targets)))
        elif args.action == "pull":
            targets = stage_names(args.targets)
            print(remote.pull(".", args.remote, targets))
            left = remote.stale_stages(".", targets)
            print("stages left to run on this host: " + (", ".join(left) if left else "none (dvc repro runs nothing)"))
            if left:
                print("run `dvc repro --pull`: it restores from the run-cache (and the remote) every stage another "
                      "host already ran with these inputs, and runs the rest")
        elif args.action == "prepare":
            dag = read_dag(".")
            selected = [s.name for s in select(dag, args.names)]
            training = [s for s in remote.training_stages(dag) if s in selected]
            todo = remote.upstream(dag, training) if training else selected
            print(f"preparing {len(todo)} stage(s) upstream of {', '.join(training) or '(no training stage)'}")
            proc = subprocess.run([dvc_executable(), "repro", *todo])
            if proc.returncode != 0:
                return proc.returncode
            print(remote.push(".", args.remote, todo))
    except (remote.RemoteError, DvcError, KeyError, ValueError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 1
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from pipelines.retrain import load_settings, serve

    settings, _ = load_settings(Path(".").resolve())  # fail now, not at 3 a.m., on a params.yaml typo
    if args.interval is not None and not args.interval > 0:
        print(f"error: --interval must be a positive number of seconds, got {args.interval}", file=sys.stderr)
        return 2
    names = args.pipelines or None
    try:
        select(read_dag("."), names or settings.pipelines)
    except KeyError as exc:
        print(f"error: {exc.args[0]}", file=sys.stderr)
        return 2
    serve(args.cron, names, ".", deployment=args.name, timezone=args.timezone, interval=args.interval)
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    import json

    from pipelines import audit

    try:
        report = audit.audit(".", audit.repo_relative(".", args.path), args.rev)
    except audit.NotProduced as exc:
        if args.json:
            print(json.dumps({"path": args.path, "rev": args.rev, "stage": None, "message": str(exc)}, indent=2))
        else:
            print(str(exc), file=sys.stderr)
        return 1
    except audit.AuditError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2, default=str) if args.json else audit.format_audit(report))
    return 0


def cmd_diff(args: argparse.Namespace) -> int:
    import json

    from pipelines import audit
    from pipelines.dvc_command import DvcError

    try:
        report = audit.diff(".", args.rev_a, args.rev_b, all_values=args.all)
    except (audit.AuditError, DvcError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if args.json else audit.format_diff(report))
    return 0


def cmd_deps(args: argparse.Namespace) -> int:
    from pipelines import deps

    return deps.main(write_file=args.write, show_impact=args.impact)


def cmd_plots(args: argparse.Namespace) -> int:
    from pipelines import plots

    try:
        targets = plots.plot_targets(".", plots.own_stages(read_dag("."), args.names)) if args.names else None
        if targets == []:
            print(f"error: {', '.join(args.names)} declare(s) no plots in dvc.yaml", file=sys.stderr)
            return 2
        print(plots.show(".", targets, args.out))
    except (plots.PlotsError, KeyError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 1
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from pipelines import history
    from pipelines.plots import own_stages

    try:
        dag = read_dag(".")
        stages = set(own_stages(dag, [args.pipeline]))
        files = [m for s in dag if s.name in stages for m in s.metrics]
        rows = history.rows_from_exp_show(history.exp_show(".", last=args.num))
    except (history.HistoryError, KeyError) as exc:
        print(f"error: {exc.args[0] if isinstance(exc, KeyError) else exc}", file=sys.stderr)
        return 1
    print(history.format_table(rows, args.pipeline, files, all_params=args.all), end="")
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    """Recent stage runs (wall/CPU time, peak memory, device, host, commit) and the slowest stages."""
    from stages.core.runs import format_runs, read_history

    stages = None
    if args.pipeline:
        by_pipeline = pipelines(read_dag("."))  # read once: each read collects every stage of dvc.yaml (~1 s)
        if args.pipeline not in by_pipeline:
            print(f"error: unknown pipeline '{args.pipeline}' (known: {', '.join(by_pipeline)})", file=sys.stderr)
            return 2
        stages = by_pipeline[args.pipeline]
    print(format_runs(read_history(".", stages), last=args.num, top=args.top), end="")
    return 0


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m pipelines",
        description="Run the project's DVC pipelines as Prefect flows (one task per DVC stage).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = ap.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = sub.add_parser("list", help="list pipelines and their stages (from dvc.yaml)")
    p.add_argument("--readme", action="store_true", help="print the README's pipelines table (from dvc.yaml and docs/)")
    p.add_argument("--write", action="store_true", help="write that table into README.md, between its marker lines")
    p.set_defaults(func=cmd_list)
    p = sub.add_parser("metrics", help="each pipeline's metrics in the workspace, one value per line")
    p.add_argument("names", nargs="*", metavar="PIPELINE", help="pipelines to show (default: all)")
    p.add_argument("--headline", action="store_true",
                   help="one line per pipeline: its headline metric (meta.headline in dvc.yaml) only")
    p.set_defaults(func=cmd_metrics)
    p = sub.add_parser("run", help="reproduce pipelines as a Prefect flow", description=(
        "Reproduce the named pipelines (or single stages, or 'all') and everything upstream of them. "
        "Each DVC stage is one Prefect task running `dvc repro --single-item`, so unchanged stages are skipped by DVC."))
    p.add_argument("names", nargs="+", metavar="PIPELINE", help="pipeline name (see `list`), stage name, or 'all'")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("remote", help="GPU-host handoff through a shared DVC remote", description=(
        "Set up a DVC remote every host shares, push outputs and the run-cache, pull them on another host. "
        "See docs/operations.md, 'Running on a GPU host'."))
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    a = actions.add_parser("setup", help="add (or replace) a DVC remote: a folder path, s3://bucket/prefix or ssh://host/path")
    a.add_argument("name", help="remote name, e.g. shared")
    a.add_argument("url", help="a folder (NFS mount, local disk), s3://bucket/prefix, or ssh://[user@]host/path")
    a.add_argument("--no-default", action="store_true", help="do not make it the default remote")
    a.add_argument("--endpoint-url", help="S3-compatible server (MinIO, Ceph …), e.g. http://minio:9000")
    a.add_argument("--region", help="S3 region")
    a.add_argument("--profile", help="AWS profile (~/.aws/credentials)")
    a.add_argument("--access-key-id", help="S3 key id, written to .dvc/config.local (git-ignored)")
    a.add_argument("--secret-access-key", help="S3 secret, written to .dvc/config.local (git-ignored)")
    a.add_argument("--user", help="SSH user")
    a.add_argument("--port", type=int, help="SSH port")
    a.add_argument("--keyfile", help="SSH private key, written to .dvc/config.local (git-ignored)")
    for action, text in (("push", "dvc push --run-cache: every output dvc.lock records, and the run-cache "
                                  "(with PIPELINE: only the outputs and run-cache entries of its stages)"),
                         ("pull", "dvc pull --run-cache, then the stages `dvc repro` would still run here")):
        a = actions.add_parser(action, help=text, description=text)
        a.add_argument("targets", nargs="*", metavar="PIPELINE",
                       help="limit to these pipelines or stages and their upstream (default: all of dvc.lock)")
        a.add_argument("-r", "--remote", help="remote name (default: the default remote)")
    a = actions.add_parser("prepare", help="CPU host: reproduce everything upstream of the training stages, then push",
                           description="Reproduce the stages the training stages depend on (not the training stages: "
                           "those marked `meta: {train: true}` in dvc.yaml) and push outputs and run-cache.")
    a.add_argument("names", nargs="+", metavar="PIPELINE", help="pipeline name, stage name, or 'all'")
    a.add_argument("-r", "--remote", help="remote name (default: the default remote)")
    p.set_defaults(func=cmd_remote)

    p = sub.add_parser("serve", help="serve a scheduled deployment (retrain)", description=(
        "Serve the retraining flow as a Prefect deployment on a cron schedule; blocks until stopped. "
        "Set PREFECT_API_URL to a running Prefect server. See docs/operations.md, 'Scheduled retraining'."))
    p.add_argument("flow", choices=["retrain"], help="what to serve")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help='cron schedule, e.g. "0 3 * * *" (every day at 03:00)')
    when.add_argument("--interval", type=float, metavar="SECONDS", help="run every SECONDS instead (e.g. 21600: every 6 h)")
    p.add_argument("--timezone", default="UTC", help="time zone of the cron schedule, e.g. Europe/Berlin (default: UTC)")
    p.add_argument("--pipelines", nargs="+", metavar="PIPELINE", help="default: retrain.pipelines in params.yaml")
    p.add_argument("--name", default="retrain", help="deployment name (default: retrain)")
    p.set_defaults(func=cmd_serve)

    p = sub.add_parser("audit", help="which params, data and code produced an artifact, and its metrics", description=(
        "The stage that produced PATH, its hash, the params, the upstream lineage with every dependency's hash, "
        "the git commits and DVC experiments whose dvc.lock records this hash, and the metrics recorded with it."))
    p.add_argument("path", help="an output file or folder (or a file inside an output folder)")
    p.add_argument("--rev", help="read dvc.lock at this git revision or DVC experiment (default: the workspace)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_audit)

    p = sub.add_parser("diff", help="params, metrics and changed outputs of two revisions side by side", description=(
        "Wraps `dvc params diff` and `dvc metrics diff`; REV is a commit, branch, tag or DVC experiment name."))
    p.add_argument("rev_a", metavar="REV_A")
    p.add_argument("rev_b", metavar="REV_B")
    p.add_argument("--all", action="store_true", help="also list unchanged params and metrics")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_diff)

    p = sub.add_parser("deps", help="check (or --write) each stage's code deps in dvc.yaml against its imports",
                       description="A stage's code deps are the in-repo modules its module imports, transitively. "
                       "Exit 1 and list the differences, or rewrite them in dvc.yaml with --write.")
    p.add_argument("--write", action="store_true", help="rewrite the code deps in dvc.yaml (comments and order kept)")
    p.add_argument("--impact", action="store_true",
                   help="print, for each stages/core and pipelines module, how many stages an edit of it reruns")
    p.set_defaults(func=cmd_deps)

    from pipelines import profiles
    profiles.add_parser(sub)

    p = sub.add_parser("history", help="one pipeline's params and metrics per commit and experiment", description=(
        "A readable `dvc exp show`: the workspace, every commit and the DVC experiments on it, with the "
        "pipeline's params (only those that differ between rows, unless --all) and its metrics as columns."))
    p.add_argument("pipeline", metavar="PIPELINE", help="pipeline name (see `list`)")
    p.add_argument("-n", "--num", type=positive_int, metavar="N", help="only the last N commits of HEAD (default: all commits)")
    p.add_argument("--all", action="store_true", help="also the params that are the same in every row")
    p.set_defaults(func=cmd_history)

    p = sub.add_parser("plots", help="dvc plots show as a page that works offline (Vega inlined)", description=(
        "Writes OUT/index.html with the curves of dvc.yaml's plots (of the named pipelines only, when given), "
        "Vega, Vega-Lite and vega-embed inlined from pipelines/vega/: no CDN, renders without network."))
    p.add_argument("names", nargs="*", metavar="PIPELINE", help="pipeline or stage names (default: every plot)")
    p.add_argument("-o", "--out", default="dvc_plots", help="output folder (default: dvc_plots, git-ignored)")
    p.set_defaults(func=cmd_plots)

    p = sub.add_parser("runs", help="recent stage runs (wall/CPU time, memory, host, commit) and the slowest stages",
                       description="Reads .reprolab/runs/history.jsonl: one record per stage run on this host, whoever "
                       "started it (dvc repro, the Prefect flow, a queued DVC experiment).")
    p.add_argument("pipeline", nargs="?", metavar="PIPELINE", help="only this pipeline's stages")
    p.add_argument("-n", "--num", type=positive_int, default=20, metavar="N", help="how many recent runs (default 20)")
    p.add_argument("--top", type=positive_int, default=5, metavar="K", help="how many slowest stages (default 5)")
    p.set_defaults(func=cmd_runs)

    from pipelines import sweep
    sweep.add_parser(sub)

    from pipelines import course_check
    course_check.add_parser(sub)
    return ap


# commands that never read the workspace's params.yaml (audit and diff read dvc.lock, at a revision too)
NO_PARAMS_COMMANDS = frozenset({"audit", "diff", "deps"})


def params_syntax_error(root: str | Path = ".") -> str | None:
    """One line (``params.yaml:LINE:COL: not valid YAML: …``) when params.yaml is not a YAML mapping, else None.

    Every other command reads params.yaml, most through DVC (which reads it to interpolate dvc.yaml):
    checked first, a syntax error is one line instead of DVC's or ruamel's traceback.
    """
    from stages.core.errors import ParamsError
    from stages.core.params import parse_params

    path = Path(root) / "params.yaml"
    if not path.is_file():
        return None
    try:
        parse_params(path.read_text(), "params.yaml")
    except ParamsError as exc:
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if args.command not in NO_PARAMS_COMMANDS:
        error = params_syntax_error(".")
        if error:
            print(f"error: {error}", file=sys.stderr)
            return 2
    try:
        return args.func(args)
    except Exception as exc:  # a YAML file DVC reads (dvc.yaml, dvc.lock) is broken: one line, not 40 frames
        from dvc.utils.serialize import ParseError

        if not isinstance(exc, ParseError):
            raise
        from stages.core.params import yaml_error_line

        cause = exc.__cause__
        path = getattr(exc, "path", None) or "a YAML file"
        print(f"error: {yaml_error_line(path, cause) if cause is not None else exc}", file=sys.stderr)
        return 2
