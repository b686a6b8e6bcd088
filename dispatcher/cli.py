"""The `dispatcher` command: serve, tokens, registry import, audit verification, retention."""

from __future__ import annotations

import ast
import importlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from typer.core import TyperCommand, TyperGroup

if TYPE_CHECKING:
    # Typer carries its own copy of click; a group's methods take that copy's types.
    from typer._click import Command as ClickCommand
    from typer._click import Context as ClickContext

from dispatcher import audit, registry, tokens
from dispatcher.config import Settings, get_settings
from dispatcher.db import SchemaNotReady, create_schema, make_engine, unit_of_work
from dispatcher.errors import DomainError
from policies.vocabulary import LawyerStatus, Role


@dataclass(frozen=True)
class _Deferred:
    """A command whose module is imported only when the command runs (or shows its own help)."""

    module: str
    function: str

    @property
    def help(self) -> str:
        """The function's docstring, read from the module's source without importing it."""
        root = Path(__file__).resolve().parents[1]
        source = (root / f"{self.module.replace('.', '/')}.py").read_text(encoding="utf-8")
        for node in ast.parse(source).body:
            if isinstance(node, ast.FunctionDef) and node.name == self.function:
                return ast.get_docstring(node) or ""
        raise LookupError(f"{self.module} defines no {self.function}")

    def load(self, name: str) -> TyperCommand:
        """The real command, as `app.command(name)` would have made it."""
        one = typer.Typer(add_completion=False)
        one.command(name)(getattr(importlib.import_module(self.module), self.function))
        command = typer.main.get_command(one)
        assert isinstance(command, TyperCommand)
        return command


# The simulator, the reports and their plotting (scipy, matplotlib) take most of a second to
# import: only these commands pay for it, so `dispatcher --help` or `token create` start fast.
DEFERRED: dict[str, _Deferred] = {
    "simulate": _Deferred("dispatcher.simulation.run", "simulate"),
    "report": _Deferred("dispatcher.reports.commands", "report"),
    "simulate-history": _Deferred("dispatcher.reports.commands", "simulate_history"),
}


class _Commands(TyperGroup):
    """The root group: lists each deferred command by its help alone, and loads it to run it."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        listed: dict[str, ClickCommand] = {
            name: TyperCommand(name=name, help=d.help) for name, d in DEFERRED.items()
        }
        self.commands = listed | dict(self.commands)

    def resolve_command(
        self, ctx: ClickContext, args: list[str]
    ) -> tuple[str | None, ClickCommand | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in DEFERRED:
            command = DEFERRED[name].load(name)
        return name, command, rest


app = typer.Typer(
    cls=_Commands,
    help="Counsel dispatcher: appoints state-funded defence lawyers.",
    no_args_is_help=True,
)
token_app = typer.Typer(help="API tokens.", no_args_is_help=True)
registry_app = typer.Typer(
    help="The registry of territories, firms and lawyers.", no_args_is_help=True
)
audit_app = typer.Typer(help="The audit trail.", no_args_is_help=True)
requester_app = typer.Typer(
    help="Courts and investigating bodies (created by their first token).", no_args_is_help=True
)
db_app = typer.Typer(help="The database schema.", no_args_is_help=True)
retention_app = typer.Typer(
    help="Personal data kept only for the policy's retention period.", no_args_is_help=True
)
rota_app = typer.Typer(help="Duty rotas: plan a draft, approve it.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(token_app, name="token")
app.add_typer(registry_app, name="registry")
app.add_typer(audit_app, name="audit")
app.add_typer(requester_app, name="requester")
app.add_typer(retention_app, name="retention")
app.add_typer(rota_app, name="rota")

DEMO_REGISTRY = Path(__file__).resolve().parents[1] / "data" / "registry.json"
DEMO_DATABASE = "dispatcher-demo.db"
DEMO_ENV_FILE = "dispatcher-demo.env"
DEMO_TERRITORY = "BAK-NSM"
# Where the demo court may ask for callbacks: a receiver on this machine (see the README).
DEMO_CALLBACK_PREFIXES = ("http://127.0.0.1:9000/", "http://localhost:9000/")


def _fail(message: str, code: int = 2) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def _engine(settings: Settings | None = None, *, create: bool = False, say: str = "") -> Any:
    """The database of the settings (DISPATCHER_DATABASE_URL), schema made ready.

    An SQLite file that does not exist is made only when `create` is given: a command run
    outside the service's environment (a mistyped path, a missing `. ./dispatcher-demo.env`)
    would otherwise write into a new, empty database beside the real one. With `say`, the
    command names the database it works on, on stderr.
    """
    url = (settings or get_settings()).database_url
    engine = make_engine(url)
    if say:
        typer.echo(f"{say}: database {engine.url.render_as_string(hide_password=True)}", err=True)
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if database not in (None, "", ":memory:") and not Path(str(database)).exists() and not create:
        engine.dispose()
        _fail(
            f"no database at {Path(str(database)).resolve()}: set DISPATCHER_DATABASE_URL to the "
            "service's (the demo's: . ./dispatcher-demo.env), or pass --create to make a new one"
        )
    try:
        create_schema(engine)
    except SchemaNotReady as exc:
        _fail(str(exc))
    return engine


@db_app.command("upgrade")
def db_upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Migrate the database to the code's schema (PostgreSQL; SQLite creates its own)."""
    from dispatcher import migrations

    url = get_settings().database_url
    engine = make_engine(url)
    try:
        if engine.dialect.name == "sqlite":
            create_schema(engine)  # created from the models and stamped, or already current
        else:
            migrations.upgrade(engine.url.render_as_string(hide_password=False), revision)
        with engine.connect() as conn:
            typer.echo(f"database at revision {migrations.current(conn)}")
    finally:
        engine.dispose()


def _describe(exc: DomainError) -> str:
    if isinstance(exc.detail, list):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc'][1:])}: {e['msg']}" for e in exc.detail
        )
    return str(exc.detail)


@token_app.command("create")
def token_create(
    role: Annotated[str, typer.Option(help="admin, bar, court, investigator or lawyer")],
    name: Annotated[str, typer.Option(help="Who holds the token, e.g. a court's name")],
    territory: Annotated[
        list[str] | None,
        typer.Option(
            help="A territory code the requester may file in (court, investigator; repeatable; "
            "added to those it already has)"
        ),
    ] = None,
    any_territory: Annotated[
        bool,
        typer.Option(
            "--any-territory",
            help="The requester may file in every territory (court, investigator)",
        ),
    ] = False,
    lawyer: Annotated[str | None, typer.Option(help="Licence (lawyer tokens)")] = None,
    callback_prefix: Annotated[
        list[str] | None,
        typer.Option(
            "--callback-prefix",
            help="A URL prefix the requester's callback_url may start with (court, "
            "investigator; repeatable; added to those already registered)",
        ),
    ] = None,
    expires_in: Annotated[
        str | None,
        typer.Option(help="Refuse the token after this long: days or hours, e.g. 90d or 12h"),
    ] = None,
    create: Annotated[
        bool, typer.Option("--create", help="Make the SQLite database if it does not exist")
    ] = False,
) -> None:
    """Create a token and print it alone on stdout (only its hash is stored); the database it
    goes into is named on stderr."""
    try:
        lifetime = tokens.parse_duration(expires_in) if expires_in is not None else None
        with unit_of_work(_engine(create=create, say="token create")) as session:
            token = tokens.create_token(
                session,
                role=role,
                name=name,
                territories=territory or (),
                any_territory=any_territory,
                lawyer=lawyer,
                callback_prefixes=callback_prefix or (),
                expires_in=lifetime,
                actor="cli",
            )
    except DomainError as exc:
        _fail(_describe(exc))
    typer.echo(token)


TOKEN_COLUMNS = ("id", "role", "name", "scope", "created", "expires", "last used", "revoked")


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"


def token_table(listed: list[tokens.TokenOut]) -> str:
    """The tokens as a plain table, one a line (times in UTC, "-" for none)."""
    rows = [TOKEN_COLUMNS] + [
        (
            str(t.id),
            t.role,
            t.name,
            t.scope or "-",
            _when(t.created_at),
            _when(t.expires_at),
            _when(t.last_used_at),
            _when(t.revoked_at),
        )
        for t in listed
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(TOKEN_COLUMNS))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )


@token_app.command("list")
def token_list(
    as_json: Annotated[bool, typer.Option("--json", help="A JSON list instead of a table")] = False,
) -> None:
    """List every token: id, role, name, scope, created, expires, last used, revoked (UTC).

    Never a token or its hash: those are not kept, and not shown.
    """
    with unit_of_work(_engine()) as session:
        listed = tokens.list_tokens(session)
    if as_json:
        typer.echo(json.dumps([t.model_dump(mode="json") for t in listed], indent=2))
    else:
        typer.echo(token_table(listed))


@token_app.command("revoke")
def token_revoke(
    id_or_name: Annotated[
        str, typer.Argument(metavar="ID_OR_NAME", help="The token's id, or its name if unique")
    ],
) -> None:
    """Revoke a token (refused from the next request on, in every process; audited).

    A name that several live tokens share is refused: revoke one of them by its id.
    """
    try:
        with unit_of_work(_engine()) as session:
            revoked = tokens.revoke(session, id_or_name=id_or_name, actor="cli")
    except DomainError as exc:
        _fail(_describe(exc))
    when = _when(revoked.revoked_at)
    typer.echo(
        f"token {revoked.id} ({revoked.role}, {revoked.name}) revoked at {when} UTC", err=True
    )


@requester_app.command("secret")
def requester_secret(
    name: Annotated[str, typer.Option(help="The requester's name, as given at token create")],
    role: Annotated[
        str | None, typer.Option(help="court or investigator, where the name alone is ambiguous")
    ] = None,
    rotate: Annotated[
        bool, typer.Option(help="Make a new secret: callbacks from now on are signed with it")
    ] = False,
) -> None:
    """Print the requester's callback signing secret (whsec_...) alone on stdout (audited)."""
    try:
        with unit_of_work(_engine()) as session:
            secret = tokens.requester_secret(
                session, name=name, role=role, rotate=rotate, actor="cli"
            )
    except DomainError as exc:
        _fail(_describe(exc))
    if rotate:
        typer.echo("a new secret: callbacks are signed with it from now on", err=True)
    typer.echo(secret)


def load_registry_file(path: Path) -> registry.RegistryFile:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc}") from exc
    try:
        return registry.RegistryFile.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise typer.BadParameter(f"{where}: {first['msg']} ({exc.error_count()} errors)") from exc


@registry_app.command("import")
def registry_import(
    file: Annotated[Path, typer.Argument(help="Registry JSON file")],
    create: Annotated[
        bool, typer.Option("--create", help="Make the SQLite database if it does not exist")
    ] = False,
) -> None:
    """Import a registry file: all or nothing; importing it again changes nothing."""
    data = load_registry_file(file)
    try:
        with unit_of_work(_engine(create=create, say="registry import")) as session:
            summary = registry.import_registry(session, data, actor="cli")
    except DomainError as exc:
        _fail(_describe(exc))
    typer.echo(json.dumps(summary.as_dict()))


@audit_app.command("verify")
def audit_verify() -> None:
    """Verify the whole hash chain; exits 1 when it is broken."""
    with unit_of_work(_engine()) as session:
        result = audit.verify(session)
    typer.echo(json.dumps(result.as_dict()))
    if not result.ok:
        raise typer.Exit(1)


@retention_app.command("run")
def retention_run(
    now: Annotated[
        str | None,
        typer.Option(help="The time to count the periods back from (ISO 8601; default: now)"),
    ] = None,
) -> None:
    """Erase the personal data of requests ended more than the retention period ago (audited)."""
    from dispatcher import retention
    from policies.config import PolicyError, load_policy_book

    at = None
    if now is not None:
        try:
            at = datetime.fromisoformat(now)
        except ValueError:
            _fail(f"--now: not an ISO 8601 time: {now[:40]!r}")
        else:
            at = at if at.tzinfo is not None else at.replace(tzinfo=UTC)
    settings = get_settings()
    try:
        policies = load_policy_book(settings.policy_file)
    except PolicyError as exc:
        _fail(str(exc))
    erased = retention.run(_engine(settings), policies, now=at)
    typer.echo(json.dumps(erased.as_dict()))


@rota_app.command("plan")
def rota_plan(
    territory: Annotated[str, typer.Option(help="Territory code")],
    from_: Annotated[
        datetime, typer.Option("--from", formats=["%Y-%m-%d"], help="First day (YYYY-MM-DD)")
    ],
    days: Annotated[
        int | None, typer.Option(min=1, max=366, help="Days (the policy's, 28 by default)")
    ] = None,
    time_limit: Annotated[
        float | None, typer.Option(min=0.1, help="Seconds the planner may take (the policy's)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the rota as JSON")] = False,
) -> None:
    """Plan a territory's duty rota and keep it as a draft; prints its id (or its JSON)."""
    from dispatcher.rota import service
    from policies.config import load_policy_book

    settings = get_settings()
    try:
        with unit_of_work(_engine(settings)) as session:
            made = service.plan(
                session,
                territory=territory,
                first_day=from_.date(),
                days=days,
                time_limit_s=time_limit,
                policies=load_policy_book(settings.policy_file),
                actor="cli",
            )
    except DomainError as exc:
        _fail(_describe(exc))
    if as_json:
        typer.echo(made.model_dump_json(include=_ROTA_FIELDS))
        return
    typer.echo(
        f"rota {made.status}: {len(made.assignments)} duties in {made.solve_s:.1f} s", err=True
    )
    for problem in made.problems:
        typer.echo(f"  {problem}", err=True)
    typer.echo(made.id)


# The rota's JSON as the specification gives it (the API's answer carries more).
_ROTA_FIELDS = {"id", "territory", "status", "solve_s", "assignments", "figures", "problems"}


@rota_app.command("approve")
def rota_approve(rota_id: Annotated[str, typer.Argument(help="The draft's id")]) -> None:
    """Approve a draft rota: during its period only its lawyers on duty take detentions."""
    from dispatcher.rota import service
    from policies.config import load_policy_book

    settings = get_settings()
    try:
        with unit_of_work(_engine(settings)) as session:
            made = service.approve(
                session,
                rota_id=rota_id,
                policies=load_policy_book(settings.policy_file),
                actor="cli",
            )
    except DomainError as exc:
        _fail(_describe(exc))
    typer.echo(f"rota {made.id} of {made.territory} approved", err=True)


def prepare_demo(settings: Settings) -> dict[str, str]:
    """A fresh database with the demo registry and a token for each role."""
    if settings.database_url.startswith("sqlite:///"):
        path = Path(settings.database_url.removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
    engine = _engine(settings, create=True)
    data = load_registry_file(Path(settings.demo_registry or DEMO_REGISTRY))
    with unit_of_work(engine) as session:
        registry.import_registry(session, data, actor="demo")
        codes = [t.code for t in data.territories]
        court_territory = DEMO_TERRITORY if DEMO_TERRITORY in codes else codes[0]
        made: dict[str, str] = {
            Role.ADMIN: tokens.create_token(
                session, role=Role.ADMIN, name="Demo administrator", actor="demo"
            ),
            Role.BAR: tokens.create_token(
                session, role=Role.BAR, name="Demo bar reviewer", actor="demo"
            ),
            Role.COURT: tokens.create_token(
                session,
                role=Role.COURT,
                name="Demo district court",
                territories=[court_territory],
                callback_prefixes=DEMO_CALLBACK_PREFIXES,
                actor="demo",
            ),
            Role.INVESTIGATOR: tokens.create_token(
                session,
                role=Role.INVESTIGATOR,
                name="Demo investigator",
                territories=[court_territory],
                actor="demo",
            ),
        }
        # One lawyer of the demo territory, so every role has a token to try.
        demo_lawyer = next(
            lw
            for lw in data.lawyers
            if court_territory in lw.territories and lw.status == LawyerStatus.ACTIVE
        )
        made[Role.LAWYER] = tokens.create_token(
            session,
            role=Role.LAWYER,
            name=demo_lawyer.name,
            lawyer=demo_lawyer.licence,
            actor="demo",
        )
        made["lawyer_licence"] = demo_lawyer.licence
        made["court_webhook_secret"] = tokens.requester_secret(
            session, name="Demo district court", role=Role.COURT, actor="demo"
        )
    # Yesterday's report into the audit chain now, as the scheduler would do moments after
    # the start: a fresh demo then answers the same however quickly one starts using it.
    from dispatcher.reports import snapshots

    snapshots.snapshot_previous_day(engine)
    engine.dispose()
    return {**made, "territory": court_territory}


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on")] = 8000,
    demo: Annotated[
        bool, typer.Option(help="Fresh SQLite database with the demo registry")
    ] = False,
    workers: Annotated[
        int, typer.Option(min=1, help="API worker processes (uvicorn restarts any that dies)")
    ] = 1,
    history: Annotated[
        int,
        typer.Option(
            min=0,
            help="With --demo: days of simulated past activity (through the real allocator), "
            "so the bar's dashboard has something to show",
        ),
    ] = 0,
) -> None:
    """Run the API; deadlines and the outbox run in it too unless DISPATCHER_SCHEDULER=false.

    With several workers each one may run the scheduler, but only one is active at a time.
    """
    import uvicorn

    settings = get_settings()
    if _port_taken(host, port):
        # Checked before anything is written: a second demo must not wipe the first one's
        # database and token file and then fail on the port.
        _fail(
            f"something already listens on {host}:{port}: a demo already running? (its tokens "
            f"are in {DEMO_ENV_FILE}; its pages at http://{host}:{port}/). Stop it, or choose "
            "another --port. Nothing was changed."
        )
    if demo:
        if "DISPATCHER_DATABASE_URL" not in os.environ:
            settings = settings.model_copy(update={"database_url": f"sqlite:///{DEMO_DATABASE}"})
            # The application reads its settings from the environment, in this process and
            # in every worker process.
            os.environ["DISPATCHER_DATABASE_URL"] = settings.database_url
            get_settings.cache_clear()
        made = prepare_demo(settings)
        if history:
            demo_history(settings, history)
        _announce_demo(settings, made, f"http://{host}:{port}")
    # Our own structured access line logs the route template; uvicorn's would log raw paths,
    # and a tablet path carries a credential.
    uvicorn.run(
        "api.main:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
    )


def _port_taken(host: str, port: int) -> bool:
    """Whether a server already listens on the address (binding it as uvicorn will fails)."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError:
        return False
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError:
            return True
    return False


def demo_history(settings: Settings, days: int) -> dict[str, Any]:
    """Fill the demo database with `days` of past activity, ending today."""
    from dispatcher.simulation import fill_history

    typer.echo(f"Simulating {days} days of past activity (progress below)...", err=True)
    return fill_history(
        settings.database_url,
        days=days,
        seed=1,
        registry_path=settings.demo_registry or str(DEMO_REGISTRY),
        progress=True,
    )


def _absolute(url: str) -> str:
    """An SQLite URL with its file's absolute path, so the env file works from anywhere."""
    prefix = "sqlite:///"
    if url.startswith(prefix) and not url.startswith(prefix + "/") and ":memory:" not in url:
        return prefix + str(Path(url[len(prefix) :]).resolve())
    return url


def _announce_demo(settings: Settings, made: dict[str, str], base: str) -> None:
    typer.echo(f"Demo database: {settings.database_url}")
    typer.echo(f"Demo territory for the court and investigator: {made['territory']}")
    lines = [
        f"export DISPATCHER_DATABASE_URL={_absolute(settings.database_url)}",
        f"export DISPATCHER_URL={base}",
    ]
    for role in Role:
        typer.echo(f"  {role:<13} token: {made[role]}")
        lines.append(f"export {role.upper()}_TOKEN={made[role]}")
    typer.echo(f"  (the lawyer token is {made['lawyer_licence']}'s)")
    lines.append(f"export COURT_WEBHOOK_SECRET={made['court_webhook_secret']}")
    typer.echo(
        "  the court's callbacks are signed with COURT_WEBHOOK_SECRET (in the file below) and "
        f"may go to {' or '.join(p + '...' for p in DEMO_CALLBACK_PREFIXES)}"
    )
    Path(DEMO_ENV_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
    typer.echo(f"  the same as shell variables: . ./{DEMO_ENV_FILE}")
    typer.echo(
        "  other lawyers: dispatcher token create --role lawyer --name NAME --lawyer LICENCE"
    )
    typer.echo(f"API docs:   {base}/docs")
    typer.echo(f"Bar dashboard: {base}/bar (sign in with the bar token)")
    typer.echo(f"Investigator: {base}/investigator   Lawyer: {base}/lawyer")
    typer.echo(f"Bar report: {base}/api/v1/reports/fairness?territory={made['territory']}")
    typer.echo(
        f"Tablet list: {base}/api/v1/tablet/<token from POST /api/v1/requests/ID/choice-sessions>"
    )


@app.command()
def worker(
    sweep_s: Annotated[
        float, typer.Option(help="Seconds between deadline sweeps (the worker arms no timers)")
    ] = 1.0,
) -> None:
    """Run deadlines, outbox delivery and scheduled jobs without the API (production).

    Run one or more; one is active at a time, the others take over within seconds if it dies.
    """
    import signal
    import threading

    from dispatcher.logging import configure
    from dispatcher.runtime import Runtime

    settings = get_settings()
    configure(settings.log_format, settings.log_level)
    runtime = Runtime.build(
        settings.model_copy(update={"deadline_sweep_s": sweep_s}), scheduler=True
    )
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    runtime.start()
    try:
        stop.wait()
    finally:
        runtime.stop()


if __name__ == "__main__":  # pragma: no cover
    app()
