"""The ``poller`` command line: parses, calls one function in poller/, renders.

The one place errors become exit codes and one-line messages: 0 success, 1 a source
failed or was partial (``history``/``show``: the entity is unknown), 2 usage or
configuration error, 3 (with --exit-code) changes.
No traceback reaches the terminal without -v. Shell completion: see README's CLI section.
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import click
import orjson

from baseline.errors import BaselineError, StoreMisconfigured
from collectors.errors import CollectorError
from poller.errors import ConfigError, PollerError

F = TypeVar("F", bound=Callable[..., Any])
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CHANGES = 0, 1, 2, 3


@dataclass
class Context:
    """Options shared by every command."""

    config_path: str | None
    verbose: bool

    def config(self) -> Any:
        """The validated configuration."""
        from poller.config import find_config, load_config

        return load_config(find_config(self.config_path))

    def store(self, config: Any, *, readonly: bool = False) -> Any:
        """The baseline store the configuration names (``readonly``: never locks or migrates)."""
        from poller.run.snapshot import open_config_store

        return open_config_store(config, readonly=readonly)


def errors_to_exit(func: F) -> F:
    """Turn our errors into one line on stderr and an exit code (tracebacks only with -v)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        verbose = bool(ctx.obj and ctx.obj.verbose)
        try:
            return func(*args, **kwargs)
        except (ConfigError, CollectorError, StoreMisconfigured) as exc:
            _fail(exc, verbose, EXIT_USAGE)
        except (PollerError, BaselineError) as exc:
            _fail(exc, verbose, EXIT_FAILED)
        except KeyboardInterrupt:
            click.echo("poller: interrupted", err=True)
            sys.exit(130)
        except (click.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except OSError as exc:  # a file named on the command line that cannot be read or written
            where = f"{exc.filename}: " if exc.filename else ""
            _fail(exc, verbose, EXIT_USAGE if exc.filename else EXIT_FAILED, f"{where}{exc.strerror or type(exc).__name__}")
        except Exception as exc:  # a bug: still one line, the traceback only with -v
            _fail(exc, verbose, EXIT_FAILED, f"internal error ({type(exc).__name__}); run with -v for the traceback")

    return wrapper  # type: ignore[return-value]


def _fail(exc: BaseException, verbose: bool, code: int, message: str | None = None) -> None:
    from poller.logging import redact_text, stderr_line

    if verbose:
        import traceback

        click.echo(redact_text("".join(traceback.format_exception(exc))), err=True)
    text = str(exc) if message is None else message
    stderr_line("command_failed", f"poller: error: {redact_text(text)}", level="error", exit_code=code)
    sys.exit(code)


class _Group(click.Group):
    """The top-level group: usage errors become one line (``poller: error: ...``) and exit 2."""

    def main(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """Run the CLI; click's own errors are reported in one line, never a traceback."""
        kwargs["standalone_mode"] = False
        try:
            code = super().main(*args, **kwargs)
        except click.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `poller` or `poller baseline` alone: the help
                click.echo(exc.format_message(), err=True)
                sys.exit(EXIT_USAGE)
            hint = f" (see `{exc.ctx.command_path} -h`)" if exc.ctx is not None else ""
            click.echo(f"poller: error: {exc.format_message()}{hint}", err=True)
            sys.exit(EXIT_USAGE)
        except click.ClickException as exc:
            click.echo(f"poller: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("poller: aborted", err=True)
            sys.exit(EXIT_FAILED)
        except BrokenPipeError:  # `poller ... | head`: the reader left, nothing to say
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_FAILED)
        sys.exit(code if isinstance(code, int) else EXIT_OK)


class OutputFile(click.Path):
    """A file to write: its directory must exist and be writable (checked before any work)."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, writable=True, allow_dash=True)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """The path, or a usage error naming it when it cannot be written."""
        path = super().convert(value, param, ctx)
        if path != "-" and not os.path.exists(path):
            parent = os.path.dirname(os.path.abspath(path))
            if not os.path.isdir(parent):
                self.fail(f"{path!r}: directory {parent!r} does not exist", param, ctx)
            if not os.access(parent, os.W_OK | os.X_OK):
                self.fail(f"{path!r}: directory {parent!r} is not writable", param, ctx)
        return path


def complete_sources(ctx: click.Context, _param: click.Parameter, incomplete: str) -> list[Any]:
    """Shell completion of source names from the configuration (nothing when it does not load)."""
    from click.shell_completion import CompletionItem

    from poller.config import find_config, load_config

    try:
        root = ctx.find_root()
        config = load_config(find_config(root.params.get("config_path")), problems=[], check_modes=False)
    except Exception:  # completion must never print an error into the user's shell
        return []
    return [CompletionItem(s.name, help=s.collector) for s in config.sources if s.name.startswith(incomplete)]


def format_option(*choices: str, default: str = "table") -> Callable[[F], F]:
    """``--format`` with these choices (defined once, shared by the commands that print data)."""
    return click.option(
        "--format", "fmt", type=click.Choice(choices), default=default, show_default=True,
        help="Output format: table for people, json for scripts (e.g. --format json | jq).",
    )


def source_option(help_text: str = "Only this source (e.g. --source prod-openstack).") -> Callable[[F], F]:
    """``--source NAME``, completing configured source names."""
    return click.option("--source", default=None, metavar="NAME", shell_complete=complete_sources, help=help_text)


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cloud-poller")
    except PackageNotFoundError:
        return "unknown (not installed)"


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    # Looked up only when asked: reading the installed metadata costs every other command ~30 ms.
    if value and not ctx.resilient_parsing:
        click.echo(f"poller (cloud-poller) {_version()}")
        ctx.exit()


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]}, epilog=(
    "Exit codes: 0 ok, 1 a source failed or was partial, 2 usage or configuration error, "
    "3 changes found (snapshot --exit-code). Shell completion: eval \"$(_POLLER_COMPLETE=bash_source poller)\" "
    "(zsh_source, fish_source for other shells)."))
@click.option("-V", "--version", is_flag=True, expose_value=False, is_eager=True, callback=_print_version,
              help="Show the version and exit.")
@click.option(
    "--config", "config_path", metavar="FILE", type=click.Path(dir_okay=False),
    help="Config file (else $POLLER_CONFIG, ./poller.yaml, /etc/poller/poller.yaml). E.g. --config /etc/poller/poller.yaml",
)
@click.option(
    "--log-format", type=click.Choice(["console", "json"]), default=None,
    help="Log format on stderr (default: console on a terminal, else json).",
)
@click.option("-v", "--verbose", is_flag=True, help="Debug logs and tracebacks.")
@click.pass_context
def main(ctx: click.Context, config_path: str | None, log_format: str | None, verbose: bool) -> None:
    """cloud-poller: hash-baseline change detection for cloud inventories.

    \b
    Examples:
      poller demo                                  # try it on emulated clouds
      poller --config /etc/poller/poller.yaml check-config
      poller snapshot --source prod-openstack      # poll one source once
      poller diff --since 2h --format markdown     # what changed lately
    """
    from poller.logging import configure

    # One-shot commands print their own summaries: their logs start at warning level.
    configure(log_format, verbose, quiet=ctx.invoked_subcommand not in ("run", "serve"))
    ctx.obj = Context(config_path, verbose)


pass_context = click.make_pass_decorator(Context)


@main.command()
@click.option("--source", "sources", multiple=True, metavar="NAME", shell_complete=complete_sources,
              help="Run only this source, even if disabled (repeatable: --source a --source b).")
@click.option("--dry-run", is_flag=True, help="Compare and print, write nothing (no baseline change, no notification).")
@click.option("--allow-mass-delete", is_flag=True, help="Release deletions held by the mass-deletion guard.")
@click.option("--exit-code", is_flag=True, help="Exit 3 when changes were found (0 when none).")
@click.option(
    "--format", "fmt", type=click.Choice(["jsonl", "table"]), default=None,
    help="Output (default: table on a terminal, else jsonl: one notification per line).",
)
@pass_context
@errors_to_exit
def snapshot(obj: Context, sources: tuple[str, ...], dry_run: bool, allow_mass_delete: bool, exit_code: bool, fmt: str | None) -> None:
    """Run every enabled source (or those named) once and print the notifications.

    Every option of the sources to run is checked first: a wrong one is exit 2 before any source runs.

    \b
    Examples:
      poller snapshot
      poller snapshot --source prod-openstack --dry-run
      poller snapshot --format jsonl --exit-code > changes.jsonl
    """
    from poller import render
    from poller.progress import for_terminal
    from poller.run.snapshot import snapshot as run_snapshot

    config = obj.config()
    store = obj.store(config)
    fmt = fmt or ("table" if sys.stdout.isatty() else "jsonl")
    collected: list[dict[str, Any]] = []
    display = for_terminal(sys.stderr)  # phase, count, total, rate on a terminal; nothing when piped
    emit = _jsonl_writer(display) if fmt == "jsonl" else (lambda body: collected.append(orjson.loads(body)))
    try:
        outcome = run_snapshot(config, store, sources, dry_run=dry_run, allow_mass_delete=allow_mass_delete,
                               emit=emit, on_result=functools.partial(_print_summary, display), progress=display)
    finally:
        if display is not None:
            display.close()
    if fmt == "table":
        click.echo(render.notifications_table(collected) if collected else "no changes")
    for sink_name, count in outcome.parked.items():
        click.echo(f"poller: sink {sink_name} parked {count} notifications it refused; see `poller notifications "
                   f"status`, then `poller notifications replay --sink {sink_name} --parked`", err=True)
    sys.exit(EXIT_FAILED if outcome.failed else EXIT_CHANGES if exit_code and outcome.changes else EXIT_OK)


def _jsonl_writer(display: Any) -> Callable[[bytes], None]:
    out = sys.stdout.buffer
    shared_terminal = display is not None and sys.stdout.isatty()

    def write(body: bytes) -> None:
        if shared_terminal:
            display.clear()  # the progress line and the notifications share one terminal
        out.write(body + b"\n")
        if shared_terminal:
            out.flush()  # a pipe or file is flushed as its buffer fills, and at exit

    return write


def _print_summary(display: Any, result: Any) -> None:
    if display is not None:
        display.clear()
    parts = [f"{result.source}: {result.status}"]
    if result.dry_run:
        parts.append("(dry run)")
    parts.append(f"{result.count('listed')} listed, {result.count('created')} created, "
                 f"{result.count('updated')} updated, {result.count('deleted')} deleted")
    if result.held:
        parts.append(f"{result.held} deletions HELD by the mass-deletion guard (use --allow-mass-delete)")
    if result.count("unconfirmed"):
        parts.append(f"{result.count('unconfirmed')} missing from the listing but still in the API (not deleted)")
    if result.count("deferred"):
        parts.append(f"{result.count('deferred')} deletions not yet confirmed (retried next run)")
    if result.run_id is not None:
        parts.append(f"run {result.run_id}")
    line = ", ".join(parts)
    if result.error:
        line += f" -- {result.error}"
    from poller.logging import stderr_line

    stderr_line("source_summary", line, level="info" if result.status == "ok" else "error",
                source=result.source, status=result.status)


@main.command()
@pass_context
@errors_to_exit
def run(obj: Context) -> None:
    """The service: every enabled source on its schedule; SIGTERM/SIGINT stop gracefully, SIGHUP reloads.

    Under systemd (Type=notify) it reports readiness and watchdog pings: see docs/service.md.

    \b
    Example:
      poller --config /etc/poller/poller.yaml --log-format json run
    """
    from poller.config import find_config
    from poller.service.scheduler import run_service

    sys.exit(run_service(find_config(obj.config_path)))


_REPORT_FORMATS = ("table", "json", "markdown", "html")
_tz_option = click.option(
    "--tz", "tz_name", default="UTC", show_default=True, metavar="ZONE",
    help="Time zone of the times shown: UTC, local, or a name like Europe/Berlin.",
)
_output_option = click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, metavar="FILE",
    help="Write the report to FILE (atomically: a temporary file renamed over it) instead of stdout.",
)


def _emit(text: str | Iterable[str], output: str | None, what: str | Callable[[], str]) -> None:
    """The report (a string or its pieces) on stdout, or written atomically to ``output`` with a line on stderr."""
    pieces = [text] if isinstance(text, str) else text
    if output:
        from poller.report.output import write_atomic

        write_atomic(output, itertools.chain(pieces, ["\n"]))
        click.echo(f"wrote {what if isinstance(what, str) else what()} to {output}", err=True)
    else:
        for piece in pieces:
            sys.stdout.write(piece)
        sys.stdout.write("\n")


@main.command()
@click.option("--source", default=None, metavar="NAME", shell_complete=complete_sources, help="Only this source's changes.")
@click.option("--type", "entity_type", default=None, metavar="TYPE", help="Only this entity type, e.g. compute.server.")
@click.option("--since", default=None, metavar="WHEN", help="2h, 1d, 1w or an ISO-8601 time (default 24h).")
@click.option("--run", "run_id", type=int, default=None, metavar="ID", help="Only the changes of this run.")
@click.option("--format", "fmt", type=click.Choice(_REPORT_FORMATS), default="table", show_default=True,
              help="html: one self-contained page with summary, timeline and filters.")
@_tz_option
@_output_option
@pass_context
@errors_to_exit
def diff(
    obj: Context, source: str | None, entity_type: str | None, since: str | None, run_id: int | None, fmt: str,
    tz_name: str, output: str | None,
) -> None:
    """Report recorded changes, field by field; first loads are folded per type.

    Example: poller diff --since 7d --format html -o changes.html
    """
    from poller import history, render

    tz, now = history.parse_tz(tz_name), datetime.now(UTC)
    start = None if run_id is not None else history.parse_since(since or "24h", now)
    store = obj.store(obj.config(), readonly=True)
    counted = history.Counted(history.notifications(store, source=source, since=start, run_id=run_id, entity_type=entity_type))
    scope = "".join(f" {label} {value}" for label, value in (("of source", source), ("of type", entity_type)) if value)
    title = f"Changes{scope} " + (f"in run {run_id}" if run_id is not None else history.describe_since(since or "24h"))
    end = None if run_id is not None else now
    _emit(render.diff_report_chunks(counted, fmt, title, start=start, end=end, tz=tz), output, lambda: f"{counted.count} changes")


@main.command("history")
@click.argument("ref", metavar="TYPE/KEY")
@click.option("--source", default=None, metavar="NAME", shell_complete=complete_sources,
              help="Only this source's entity of that TYPE/KEY.")
@click.option("--format", "fmt", type=click.Choice(_REPORT_FORMATS), default="table", show_default=True, help="Output format.")
@_tz_option
@_output_option
@pass_context
@errors_to_exit
def history_command(obj: Context, ref: str, source: str | None, fmt: str, tz_name: str, output: str | None) -> None:
    """Every recorded change of one entity, oldest first, with its changed fields.

    Exit 1 when neither the baseline nor the recorded history knows TYPE/KEY; a history
    pruned by baseline.history_days is said in one line. Example: poller history server/s2
    """
    from poller import history, render

    entity_type, key = history.parse_ref(ref)
    tz = history.parse_tz(tz_name)
    config = obj.config()
    found = history.entity_history(obj.store(config, readonly=True), entity_type, key, source=source,
                                   history_days=config.baseline.history_days)
    name = found.notes[-1].get("name") if found.notes else found.held[0].name
    title = f"History of {ref}" + (f" ({name})" if name else "")
    extra = {"entity_type": entity_type, "key": key, "pruned": found.pruned}
    text = render.history_report(found.notes, fmt, title, remark=found.remark(), tz=tz, extra=extra)
    _emit(text, output, f"{len(found.notes)} changes of {ref}")


@main.command("show")
@click.argument("ref", metavar="TYPE/KEY")
@click.option("--source", default=None, metavar="NAME", shell_complete=complete_sources,
              help="The source holding it (needed when several do).")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True, help="Output format.")
@_tz_option
@pass_context
@errors_to_exit
def show_command(obj: Context, ref: str, source: str | None, fmt: str, tz_name: str) -> None:
    """What the baseline holds for one entity now: fields, children, times, version, attributes.

    Exit 1 when no source holds TYPE/KEY, 2 when several do and --source is missing.
    Example: poller show compute.server/6b641eb1-ec26-4d09-be83-f4fcde0e96e7
    """
    from poller import history, inventory, render

    entity_type, key = history.parse_ref(ref)
    tz = history.parse_tz(tz_name)
    view = inventory.entity_view(obj.store(obj.config(), readonly=True), entity_type, key, source)
    click.echo(render.entity_view(view.as_dict(), fmt, tz=tz))


@main.group()
def notifications() -> None:
    """Delivery status of durable sinks, and replays of history."""


@notifications.command("status")
@format_option("table", "json")
@pass_context
@errors_to_exit
def notifications_status(obj: Context, fmt: str) -> None:
    """Backlog per sink, oldest pending notification, last error, parked notifications.

    \b
    Examples:
      poller notifications status
      poller notifications status --format json
    """
    from poller import render
    from poller.notify import admin
    from poller.notify.registry import build_sink

    config = obj.config()
    sinks = [build_sink(s) for s in config.notify.sinks]
    rows = admin.status(obj.store(config, readonly=True), sinks)
    if fmt == "json":
        click.echo(render.json_text([r.as_dict() for r in rows]))
        return
    click.echo(render.sink_status_table(rows))


@notifications.command("replay")
@click.option("--sink", "sink_name", required=True, metavar="NAME", help="The durable sink to send to (notify.sinks[].name).")
@click.option("--since", default=None, metavar="WHEN", help="A duration ago (30, 5m, 1h30m, 1d, 1w) or an ISO-8601 time.")
@click.option("--source", default=None, metavar="NAME", shell_complete=complete_sources, help="Only this source's notifications.")
@click.option("--type", "entity_type", default=None, metavar="TYPE", help="Only this entity type, e.g. compute.server.")
@click.option("--parked", is_flag=True, help="Send exactly the sink's parked notifications (instead of --since).")
@pass_context
@errors_to_exit
def notifications_replay(
    obj: Context, sink_name: str, since: str | None, source: str | None, entity_type: str | None, parked: bool,
) -> None:
    """Send recorded notifications again to one sink (same ids: consumers deduplicate).

    \b
    Examples:
      poller notifications replay --sink hook --since 1d
      poller notifications replay --sink hook --parked
    """
    from poller import history
    from poller.notify import admin
    from poller.notify.registry import build_sink

    if parked == (since is not None) or (parked and (source or entity_type)):
        raise click.UsageError("give either --since (with optional --source/--type) or --parked")
    config = obj.config()
    matches = [s for s in config.notify.sinks if s.name == sink_name]
    if not matches:
        raise ConfigError(f"{config.path}: no sink named {sink_name!r}")
    sink = build_sink(matches[0])
    try:
        if parked:
            done = admin.replay_parked(obj.store(config), sink)
            click.echo(f"replayed {done.sent} parked notifications to {sink_name}; {done.refused} refused again, "
                       f"{done.left} still parked", err=True)
            if done.left:
                sys.exit(EXIT_FAILED)
            return
        start = history.parse_since(since or "", datetime.now(UTC))
        sent = admin.replay(obj.store(config), sink, since=start, source=source, entity_type=entity_type)
    finally:
        sink.close()
    click.echo(f"replayed {sent} notifications to {sink_name}", err=True)


@main.group()
def baseline() -> None:
    """Show, export, import or reset the stored baseline."""


@baseline.command("show")
@source_option("Only this source's types (e.g. --source prod-openstack).")
@format_option("table", "json")
@pass_context
@errors_to_exit
def baseline_show(obj: Context, source: str | None, fmt: str) -> None:
    """Entities per source and type, and each source's epoch.

    \b
    Examples:
      poller baseline show
      poller baseline show --source prod-openstack --format json
    """
    from poller import inventory, render

    rows = inventory.show(obj.store(obj.config(), readonly=True), source)
    if fmt == "json":
        click.echo(render.json_text([{"source": r.source, "type": r.entity_type, "entities": r.count, "epoch": r.epoch}
                                     for r in rows]))
        return
    click.echo(render.table(("SOURCE", "TYPE", "ENTITIES", "EPOCH"), [(r.source, r.entity_type, r.count, r.epoch) for r in rows]))


@baseline.command("export")
@source_option("Only this source's entities (e.g. --source prod-openstack).")
@click.option("-o", "--output", type=OutputFile(), default="-", metavar="FILE",
              help="Write here instead of stdout (e.g. -o baseline.jsonl).")
@pass_context
@errors_to_exit
def baseline_export(obj: Context, source: str | None, output: str) -> None:
    """Write the baseline as JSON lines (one entity per line, with its stored document).

    \b
    Example:
      poller baseline export --source prod-openstack -o prod.jsonl
    """
    from poller import inventory

    rows = inventory.export_rows(obj.store(obj.config(), readonly=True), source)
    with click.open_file(output, "wb") as handle:
        for row in rows:
            handle.write(orjson.dumps(row) + b"\n")


@baseline.command("import")
@click.argument("file", type=click.File("rb"))
@click.option("--replace", is_flag=True, help="Replace a source's existing baseline (else a source that has one is refused).")
@pass_context
@errors_to_exit
def baseline_import(obj: Context, file: Any, replace: bool) -> None:
    """Load a baseline export (FILE, or - for stdin).

    \b
    Example:
      poller baseline import prod.jsonl --replace
    """
    from poller import inventory

    count = inventory.import_rows(obj.store(obj.config()), file, datetime.now(UTC), replace=replace)
    click.echo(f"imported {count} entities", err=True)


@baseline.command("reset")
@source_option("Forget only this source's baseline (e.g. --source lab).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
@errors_to_exit
def baseline_reset(obj: Context, source: str | None, yes: bool) -> None:
    """Forget the baseline: the next run is a first load with a new epoch.

    \b
    Example:
      poller baseline reset --source lab --yes
    """
    store = obj.store(obj.config())
    what = f"the baseline of source {source}" if source else "the whole baseline"
    if not yes and not click.confirm(f"Forget {what}?", default=False):
        sys.exit(EXIT_USAGE)
    click.echo(f"forgot {store.reset(source)} entities", err=True)


@main.command()
@format_option("table", "json")
@pass_context
@errors_to_exit
def sources(obj: Context, fmt: str) -> None:
    """Configured sources: schedule, last run, counts, health (needs no source's secrets).

    \b
    Examples:
      poller sources
      poller sources --format json | jq '.[] | select(.status != "ok")'
    """
    from poller import render
    from poller.service import status

    config = obj.config()
    records = status.source_records(config, obj.store(config, readonly=True))
    if fmt == "json":
        click.echo(render.json_text(records))
    else:
        click.echo(render.table(status.SOURCE_HEADERS, status.source_rows(records)))


@main.command()
@format_option("table", "json")
@pass_context
@errors_to_exit
def cluster(obj: Context, fmt: str) -> None:
    """Members of the coordination group, and which member owns each source and durable sink.

    \b
    Examples:
      poller cluster
      poller cluster --format json
    """
    from poller import render
    from poller.service.roster import roster

    view = roster(obj.config())
    if fmt == "json":
        click.echo(orjson.dumps(view.as_dict(), option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"group {view.group} on {view.backend}: {len(view.members)} members")
    click.echo(render.table(("MEMBER", "HOST", "PID", "LAST HEARTBEAT", "SOURCES", "SINKS"),
                            [(m["id"], m["host"], m["pid"], m["last_heartbeat"], len(m["sources"]), ",".join(m["sinks"]))
                             for m in view.members]))
    click.echo("")
    rows = [("source", n, o or "-") for n, o in view.sources.items()] + [("sink", n, o or "-") for n, o in view.sinks.items()]
    click.echo(render.table(("KIND", "NAME", "OWNER"), rows))


@main.command()
@format_option("table", "json")
@pass_context
@errors_to_exit
def collectors(obj: Context, fmt: str) -> None:
    """Installed collector plugins, the configured class-path ones, and their entity types.

    \b
    Examples:
      poller collectors
      poller collectors --format json
    """
    from poller import plugins, render

    records = plugins.listing(_configured_class_paths(obj))
    if fmt == "json":
        click.echo(render.json_text(records))
        return
    rows = [(r["collector"], r["plugin"], _types_cell(r)) for r in records]
    click.echo(render.table(("COLLECTOR", "PLUGIN", "ENTITY TYPES"), rows))


def _types_cell(record: dict[str, Any]) -> str:
    if record["error"]:
        return f"unavailable: {record['error']}"
    if record["entity_types"]:
        return ", ".join(record["entity_types"])
    return "(from its inventory)" if record["dynamic_types"] else "(none)"


def _configured_class_paths(obj: Context) -> dict[str, str]:
    """Class-path collectors named by the configuration, if there is one (a broken one is said, not fatal)."""
    from poller import plugins

    try:
        config = obj.config()
    except ConfigError as exc:
        if obj.config_path or "no configuration file" not in str(exc):
            click.echo(f"poller: configured class-path plugins not listed: {exc}", err=True)
        return {}
    return plugins.class_paths(source.collector for source in config.sources)


@main.command("check-config")
@pass_context
@errors_to_exit
def check_config(obj: Context) -> None:
    """Validate the configuration and report every problem found, each on its own line (exit 2).

    Checks keys and values, baseline.url (parses, driver installed), every enabled source's
    collector options, secrets and local files (the static collector's path), every sink and
    events. Disabled sources are not checked: their ${ENV} need not be set. No network I/O.

    \b
    Example:
      poller --config /etc/poller/poller.yaml check-config
    """
    from poller.config import find_config, load_config
    from poller.service import status

    problems: list[str] = []
    config = load_config(find_config(obj.config_path), problems=problems)
    lines, found = status.check(config)
    problems += found
    for line in lines:
        click.echo(line)
    if problems:
        for problem in problems:
            click.echo(f"poller: error: {problem}", err=True)
        click.echo(f"poller: {config.path}: {len(problems)} problem{'s' if len(problems) > 1 else ''}", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"{config.path}: configuration is valid")


@main.group("config")
def config_group() -> None:
    """The configuration as the poller sees it (see also check-config)."""


@config_group.command("show")
@format_option("yaml", "json", default="yaml")
@pass_context
@errors_to_exit
def config_show(obj: Context, fmt: str) -> None:
    """Print the effective configuration (defaults, ${ENV} and *_file secrets resolved), every secret as ***.

    \b
    Examples:
      poller config show
      poller config show --format json | jq .sources
    """
    import yaml

    from poller.config import masked_document

    document = masked_document(obj.config())
    if fmt == "json":
        click.echo(orjson.dumps(document, option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(yaml.safe_dump(document, sort_keys=False, allow_unicode=True).rstrip("\n"))


@main.command()
@pass_context
@errors_to_exit
def serve(obj: Context) -> None:
    """Only the push-event intake (events: in the config) until SIGTERM/SIGINT: no scheduled polls.

    \b
    Example:
      poller --config /etc/poller/poller.yaml serve
    """
    from poller.events import serve as serve_events
    from poller.run.snapshot import build_dispatcher, check_sources

    config = obj.config()
    check_sources(config, [s for s in config.sources if s.enabled])  # a wrong option: exit 2 before serving
    store = obj.store(config)
    dispatcher = build_dispatcher(config, store, include_stdout=True)
    try:
        code = serve_events(config, store, dispatcher, on_started=_say_serving)
    finally:
        dispatcher.deliver_pending(force=True)
        dispatcher.close()
    sys.exit(code)


def _say_serving(service: Any) -> None:
    where = [f"HTTP {service.url}"] if service.url else []
    where += [f"AMQP for {listener.source}" for listener in service.listeners]
    click.echo(f"poller: serving events ({', '.join(where)}); SIGTERM or Ctrl-C stops", err=True)


@main.command()
@click.option("--workdir", type=click.Path(file_okay=False), default=None, metavar="DIR",
              help="Keep the demo's files here (default: a new temporary directory), e.g. --workdir ./demo.")
@pass_context
@errors_to_exit
def demo(obj: Context, workdir: str | None) -> None:
    """The embedded default: demo clouds on loopback, two snapshots, a diff report.

    \b
    Example:
      poller demo --workdir ./demo
    """
    from poller import demo as demo_mod

    sys.exit(demo_mod.run_demo(workdir, echo=click.echo))


if __name__ == "__main__":
    main()
