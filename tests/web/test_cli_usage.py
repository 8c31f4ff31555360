"""The ``commandpost`` command line itself: usage errors are exit status 2 with click's message, every command of
API.md is listed with its flags, ``--help`` needs no valid configuration, and ``import web.cli`` stays small (the
process that runs ``serve`` hosts the single worker)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from core.users import Role
from gis.schemas import LayerKind
from tests.web.test_cli import CLI, ROOT, _free_port
from web.cli import main
from web.cli.layers import LAYER_KINDS
from web.cli.users import ROLES

# Every command API.md ("Run and set up", "Auth") and README.md name, with the flags they name.
COMMANDS = {
    ("serve",): ["--host", "--port", "--workers", "--log-level"],
    ("db", "upgrade"): ["--quiet"],
    ("db", "downgrade"): ["REVISION"],
    ("users", "add"): ["NAME", "--role", "--unit", "--units", "--password-stdin"],
    ("import-osm",): ["FILE", "--demo-units"],
    ("import-layer",): ["FILE", "--kind", "--crs", "--zone-kind", "--buffer-m", "--strict", "--quiet"],
    ("roads", "build"): [],
    ("plans", "load"): ["[PATH]"],
    ("plans", "check"): ["[FILE]", "--limit", "--json"],
    ("scheduler",): [],
}


def invoke(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), prog_name="commandpost")
    return result.exit_code, result.stdout, result.stderr


def test_the_top_help_lists_every_command_with_what_it_does() -> None:
    status, out, _ = invoke("--help")
    assert status == 0
    listed = out.split("Commands:")[1]
    for name in {path[0] for path in COMMANDS}:
        line = next((line for line in listed.splitlines() if line.strip().startswith(name + " ")), "")
        assert len(line.split()) > 2, f"{name}: no help line in\n{out}"
    assert "Exit status: 0 done, 1 the work failed, 2 a usage error" in out


@pytest.mark.parametrize("path", list(COMMANDS), ids=" ".join)
def test_each_command_help_names_its_arguments_and_flags(path: tuple[str, ...]) -> None:
    status, out, _ = invoke(*path, "--help")
    assert status == 0
    assert out.startswith(f"Usage: commandpost {' '.join(path)} "), out
    for flag in COMMANDS[path]:
        assert flag in out, f"{flag} missing from `commandpost {' '.join(path)} --help`:\n{out}"
    assert len(out.split("\n\n")[1].strip()) > 15, "no description"


def test_groups_list_their_subcommands() -> None:
    for group in {path[0] for path in COMMANDS if len(path) == 2}:
        status, out, _ = invoke(group, "-h")
        assert status == 0
        for path in COMMANDS:
            if path[0] == group:
                assert f"  {path[1]} " in out.split("Commands:")[1], f"{group} {path[1]} not listed:\n{out}"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "Usage: commandpost [OPTIONS] COMMAND"),
        (["nope"], "No such command 'nope'"),
        (["db"], "Usage: commandpost db [OPTIONS] COMMAND"),
        (["db", "sideways"], "No such command 'sideways'"),
        (["db", "downgrade"], "Missing argument 'REVISION'"),
        (["import-layer", "zones.geojson"], "Missing option '--kind'"),
        (["import-layer", "zones.geojson", "--kind", "roads"], "Invalid value for '--kind'"),
        (
            ["import-layer", "zones.geojson", "--kind", "hazard_zones", "--buffer-m", "wide"],
            "'wide' is not a valid float",
        ),
        (["users", "add", "zhao", "--role", "chief"], "Invalid value for '--role': 'chief' is not one of 'admin'"),
        (["users", "add", "zhao"], "Missing option '--role'"),
        (["users", "add", "zhao", "--role", "field_unit", "--unit", "seventeen"], "Invalid value for '--unit'"),
        (["users", "add", "gw", "--role", "gateway"], "--units goes with --role gateway"),
        (["users", "add", "gw", "--role", "observer", "--units", "3"], "--units goes with --role gateway"),
        (["users", "add", "gw", "--role", "gateway", "--units", "1-x"], "'1-x' is not an id or a range of ids"),
        (["users", "add", "gw", "--role", "gateway", "--units", "9-2"], "'9-2': an empty or too large range"),
        (["serve", "--workers", "0"], "Invalid value for '--workers'"),
        (["serve", "--log-level", "loud"], "Invalid value for '--log-level'"),
        (["plans", "check", "--limit", "0"], "Invalid value for '--limit'"),
        (["serve", "--frobnicate"], "No such option '--frobnicate'"),
    ],
)
def test_a_usage_error_is_status_2_with_a_message_and_does_no_work(args: list[str], message: str) -> None:
    status, out, err = invoke(*args)
    assert status == 2, (status, out, err)
    assert message in err, err
    assert "Traceback" not in err and out == ""


def test_the_choices_are_the_services_own() -> None:
    """The --role and --kind choices are spelt out (so --help loads no SQLAlchemy or gis): they must not drift."""
    assert tuple(r.value for r in Role) == ROLES
    assert tuple(k.value for k in LayerKind) == LAYER_KINDS


def test_help_runs_as_a_process_without_a_valid_configuration() -> None:
    """`commandpost --help` as an operator types it on a machine whose configuration is broken (a short key, no
    database): the help comes, the key is not needed, the exit status is 0; a usage error there is still 2."""
    env = {"PATH": "/usr/bin:/bin", "COMMANDPOST_SECRET_KEY": "short", "COMMANDPOST_DATABASE_URL": "nonsense"}
    shown = subprocess.run([*CLI, "--help"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("Usage: commandpost [OPTIONS] COMMAND [ARGS]...")
    for name in {path[0] for path in COMMANDS}:
        assert f"\n  {name} " in shown.stdout, name
    wrong = subprocess.run(
        [*CLI, "import-layer", "x.geojson"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert wrong.returncode == 2 and "Missing option '--kind'" in wrong.stderr
    refused = subprocess.run([*CLI, "roads", "build"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 2 and "the configuration is not valid" in refused.stderr
    assert "Traceback" not in refused.stderr


def test_importing_the_cli_loads_no_database_or_map_library() -> None:
    """The process that runs `serve` with one worker hosts the app too; the command line itself adds only click."""
    code = "import json, sys, web.cli; print(json.dumps(sorted(sys.modules)))"
    loaded = json.loads(subprocess.check_output([sys.executable, "-c", code], cwd=ROOT, text=True, timeout=60))
    heavy = {"sqlalchemy", "asyncpg", "pydantic", "alembic", "tqdm", "uvicorn", "geopandas", "shapely", "core", "gis"}
    assert sorted(m for m in loaded if m.split(".")[0] in heavy) == []


def test_a_database_that_does_not_answer_is_status_3_in_one_line() -> None:
    """Nothing listens on the port: the operator reads one line naming the problem, a script can tell it from a
    refusal (2) and retry."""
    url = f"postgresql+asyncpg://postgres@127.0.0.1:{_free_port()}/commandpost"
    env = {"PATH": "/usr/bin:/bin", "COMMANDPOST_SECRET_KEY": "k" * 40, "COMMANDPOST_DATABASE_URL": url}
    result = subprocess.run(
        [*CLI, "db", "upgrade", "--quiet"], env=env, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stderr
    assert result.stderr.startswith("commandpost: cannot reach a service: ") and result.stderr.count("\n") == 1
