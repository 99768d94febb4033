"""dataos-ctl's command forms, run as its documentation writes them: identifiers (`-i
"NAME | VERSION | TYPE | WORKSPACE"`, `NAME:VERSION:TYPE`, `--id TYPE:VERSION:NAME`), flags
before the command, `-r` refresh, `log --node`, `log -t depot`, `resource update|log|runtime
get`, `version`, `user get` and `user tag add|delete -i ID -t TAG`, and what `get -n` and
`apply` say when a resource is not (or not yours) to list."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

import pytest

from tests.conftest import add_user, local_context, run_cli, run_process, write

SECRET_AND_DEPOT = """name: {name}-r
version: v1
type: instance-secret
instance-secret:
  type: key-value-properties
  acl: r
  data: {{username: u, password: Forms-Pass-1}}
---
name: {name}
version: v2alpha
type: depot
depot:
  type: postgresql
  secrets: [{{name: {name}-r, allkeys: true}}]
  postgresql: {{host: 127.0.0.1, port: 9, database: db}}
"""
# Two folder depots and one workflow scanning each in its own job.
LAKES = """name: lakea
version: v2alpha
type: depot
depot:
  type: file
  file: {{path: "{root}", relativePath: a}}
---
name: lakeb
version: v2alpha
type: depot
depot:
  type: file
  file: {{path: "{root}", relativePath: b}}
---
version: v1
name: lakescan
type: workflow
workflow:
  title: Scan the lakes
  dag:
    - name: scan-a
      spec:
        stack: scanner:2.0
        stackSpec: {{depot: dataos://lakea}}
    - name: scan-b
      dependencies: [scan-a]
      spec:
        stack: scanner:2.0
        stackSpec: {{depot: dataos://lakeb}}
"""
ROW = "lakescan | v1 | workflow | public"  # a row of `get`'s table, as the docs copy it


def ok(*args: str, env: dict[str, str] | None = None) -> str:
    result = run_cli(*args, env=env)
    assert result.exit_code == 0, (args, result.output)
    assert "Traceback" not in result.output
    return result.stdout


def apply_pair(tmp_path: Path, name: str = "pg", user: str | None = None) -> None:
    path = write(tmp_path / f"{name}.yml", SECRET_AND_DEPOT.format(name=name))
    env = {"ENTREPOT_USER": user} if user else None
    ok("apply", "--no-verify", "-f", str(path), env=env)


@pytest.fixture
def lakes(home: Path, tmp_path: Path) -> Path:
    """Two folder depots, scanned by one workflow of two jobs (run 1, succeeded)."""
    root = tmp_path / "lake"
    for part in ("a", "b"):
        (root / part / f"sales_{part}").mkdir(parents=True)
        (root / part / f"sales_{part}" / "part.csv").write_text("id,amount\n1,2\n")
    path = write(tmp_path / "lakes.yml", LAKES.format(root=root))
    out = ok("apply", "-f", str(path))
    assert "running(public) lakescan:v1:workflow...succeeded (run 1" in out
    return path


def names(stdout: str) -> list[str]:
    """The NAME column of a plain (piped) table."""
    return [line.split("|")[0].strip() for line in stdout.splitlines()[2:] if "|" in line]


# --- -i / --id ------------------------------------------------------------------------------


def test_delete_by_identifier_as_the_docs_write_it(home: Path, tmp_path: Path) -> None:
    apply_pair(tmp_path, "pg")
    apply_pair(tmp_path, "my")
    # The docs' most common form: NAME:VERSION:TYPE, and the long form.
    assert ok("delete", "-i", "pg:v2alpha:depot") == "deleting pg:v2alpha:depot...deleted\n"
    assert ok("resource", "delete", "-i", "pg-r:v1:instance-secret") == (
        "deleting pg-r:v1:instance-secret...deleted\n"
    )
    # A row copied from `get`'s table, pipes and spaces included (an empty workspace).
    row = run_process("delete", "-i", "my | v2alpha | depot |      ", program="dataos-ctl")
    assert (row.exit_code, row.stdout) == (0, "deleting my:v2alpha:depot...deleted\n")
    # --id's order: TYPE:VERSION:NAME.
    assert ok("delete", "--id", "instance-secret:v1:my-r") == (
        "deleting my-r:v1:instance-secret...deleted\n"
    )
    assert ok("get", "-a") == ""


def test_an_identifier_names_its_version(home: Path, tmp_path: Path) -> None:
    apply_pair(tmp_path, "pg")
    wrong = run_cli("delete", "-i", "pg:v1:depot")
    assert wrong.exit_code == 4
    assert "depot 'pg' has no version v1: it is pg:v2alpha:depot" in wrong.stderr
    gone = run_cli("delete", "-i", "nothere:v1:depot")
    assert gone.exit_code == 4 and "depot 'nothere' not found" in gone.stderr
    assert names(ok("get", "-t", "depot")) == ["pg"]  # nothing was deleted


@pytest.mark.parametrize(
    ("identifier", "message"),
    [
        ("pg", "'pg' is not a resource identifier"),
        ("pg:v2alpha", "'pg:v2alpha' is not a resource identifier"),
        ("pg:v2alpha:depto", "names no resource type ('pg' or 'depto')"),
        ("depot:v1:workflow", "is ambiguous: both 'depot' and 'workflow' are resource types"),
        ("pg | v1 | service | public", "'service' is a DataOS resource type entrepot does not"),
    ],
)
def test_an_identifier_that_names_nothing_is_a_usage_error(
    home: Path, identifier: str, message: str
) -> None:
    result = run_cli("delete", "-i", identifier)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert "hint: " in result.stderr and "Traceback" not in result.output


def test_identifier_and_flags_must_agree(home: Path, tmp_path: Path) -> None:
    apply_pair(tmp_path, "pg")
    result = run_cli("get", "-t", "depot", "-n", "other", "-i", "pg:v2alpha:depot")
    assert result.exit_code == 2
    assert "-n/--name 'other' and -i/--identifier 'pg:v2alpha:depot' disagree" in result.stderr
    both = run_cli("get", "-i", "pg:v2alpha:depot", "--id", "depot:v2alpha:pg")
    assert both.exit_code == 2 and "give -i/--identifier or --id, not both" in both.stderr
    assert names(ok("get", "-t", "depot", "-i", "pg:v2alpha:depot")) == ["pg"]


def test_get_by_identifier_in_both_orders(lakes: Path) -> None:
    for args in (
        ("get", "-i", ROW),
        ("get", "-i", "lakescan:v1:workflow:public"),
        ("get", "-i", "workflow:v1:lakescan:public"),
        ("get", "--id", "workflow:v1:lakescan:public"),
        ("resource", "get", "-i", ROW),
    ):
        assert names(ok(*args)) == ["lakescan"], args
    other = run_cli("get", "-i", "lakescan | v1 | workflow | sandbox")
    assert other.exit_code == 4
    assert "workflow 'lakescan' in workspace 'sandbox' not found among yours\n" in other.stderr


def test_get_runtime_by_identifier(lakes: Path) -> None:
    for args in (
        ("get", "runtime", "-i", ROW),
        ("resource", "runtime", "get", "-i", ROW),
        ("runtime", "get", "-i", ROW),
    ):
        out = ok(*args)
        assert "lakescan | v1      | workflow | public    | Scan the lakes" in out, args
        assert "scan-b-execute | scan-b   | scanner:2.0 | succeeded" in out


# --- flags before the command ---------------------------------------------------------------


def test_flags_before_the_command(lakes: Path) -> None:
    # The console script, as the docs write it; the run has ended, so -r prints once and ends.
    runtime = run_process(
        "-t", "workflow", "-w", "public", "-n", "lakescan", "get", "runtime", "-r",
        program="dataos-ctl",
    )  # fmt: skip
    assert runtime.exit_code == 0, runtime.stderr
    assert "succeeded | 2/2" in runtime.stdout
    listed = run_process("-t", "workflow", "-w", "public", "-n", "lakescan", "get")
    assert listed.exit_code == 0 and names(listed.stdout) == ["lakescan"]
    assert names(ok("-i", ROW, "get")) == ["lakescan"]
    assert "scan-a-execute" in ok("-i", ROW, "get", "runtime")
    node = ok("-i", ROW, "--node", "scan-b-execute", "get", "runtime")  # the docs' node form
    assert names(node)[0] == "scan-b-execute" and "scan-a-execute" not in node
    node_log = ok("-i", ROW, "--node", "scan-b-execute", "log")
    assert "scan-b-execute | main" in node_log and "scan-a" not in node_log
    assert names(ok("resource", "-t", "depot", "get", "-a")) == ["lakea", "lakeb"]
    assert names(ok("-a", "-t", "depot", "resource", "get")) == ["lakea", "lakeb"]


def test_flags_before_the_command_keep_version_and_help(home: Path) -> None:
    version = run_process("--version", program="dataos-ctl")
    assert version.exit_code == 0 and version.stdout == "entrepot, version 0.1.0\n"
    helped = run_cli("--help")
    assert helped.exit_code == 0 and "Commands:" in helped.stdout
    helped = run_cli("-t", "depot", "--help")
    assert helped.exit_code == 0 and "Commands:" in helped.stdout
    alone = run_cli("-t", "depot")
    assert alone.exit_code == 2
    assert "-t is a flag of a command, and no command follows it" in alone.stderr
    assert "dataos-ctl -t depot get" in alone.stderr
    for words, word in (("entrepot -t depot ge", "3"), ("entrepot -t depot ", "3")):
        completed = run_process(
            env={"_ENTREPOT_COMPLETE": "bash_complete", "COMP_WORDS": words, "COMP_CWORD": word}
        )
        assert completed.exit_code == 0 and "plain,get" in completed.stdout.splitlines()
        assert completed.stderr == ""
    unknown = run_cli("-x", "get")
    assert unknown.exit_code == 2 and "No such option '-x'" in unknown.stderr


# --- -r: print again on every change ------------------------------------------------------


def _set_run_status(home: Path, status: str, finished: str | None) -> None:
    with sqlite3.connect(home / "entrepot.db") as db:
        db.execute(
            "UPDATE workflow_run SET status = ?, finished_at = ? WHERE id = 1", (status, finished)
        )


def test_get_runtime_refresh_prints_until_the_run_ends(
    lakes: Path, home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run is still going at the first look; between two looks (the refresh's one
    pause, replaced here) it ends: the runtime is printed again and the command ends."""
    with sqlite3.connect(home / "entrepot.db") as db:
        (finished,) = db.execute("SELECT finished_at FROM workflow_run WHERE id = 1").fetchone()
    _set_run_status(home, "running", None)
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        assert len(pauses) <= 3, "the refresh should have ended with the run"
        if len(pauses) == 2:  # no change at the second look: nothing printed again
            _set_run_status(home, "succeeded", finished)

    monkeypatch.setattr("entrepot.cli.refresh.wait", pause)
    result = run_cli(
        "get", "runtime", "-t", "workflow", "-n", "lakescan", "-r", "--refreshRate", "2"
    )
    assert result.exit_code == 0, result.output
    assert pauses == [2, 2]
    frames = re.split(r"\n--- \d\d:\d\d:\d\d: changed ---\n", result.stdout)
    assert len(frames) == 2
    assert "running | 2/2" in frames[0] and "succeeded | 2/2" not in frames[0]
    assert "succeeded | 2/2" in frames[1]
    assert "refreshing every 2 s, until the run ends (or Ctrl-C)" in result.stderr


def test_get_refresh_prints_changes_until_ctrl_c(
    home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from entrepot.services import resources

    apply_pair(tmp_path, "pg")
    second = write(tmp_path / "my.yml", SECRET_AND_DEPOT.format(name="my"))
    looks = 0

    def pause(seconds: float) -> None:
        nonlocal looks
        looks += 1
        if looks == 2:
            with local_context() as ctx:
                resources.apply(ctx, resources.ApplyOptions(paths=[str(second)], verify=False))
        if looks == 3:
            raise KeyboardInterrupt  # Ctrl-C

    monkeypatch.setattr("entrepot.cli.refresh.wait", pause)
    result = run_cli("get", "-t", "depot", "-r")
    assert result.exit_code == 0, result.output
    assert looks == 3
    frames = re.split(r"\n--- \d\d:\d\d:\d\d: changed ---\n", result.stdout)
    assert [names(frame) for frame in frames] == [["pg"], ["my", "pg"]]
    assert "refreshing every 5 s, until Ctrl-C" in result.stderr
    assert result.stderr.rstrip().endswith("stopped refreshing")


def test_refresh_takes_a_rate_in_whole_seconds(home: Path) -> None:
    result = run_cli("get", "-t", "depot", "-r", "--refreshRate", "0")
    assert result.exit_code == 2 and "--refreshRate" in result.stderr
    depot = run_cli("get", "runtime", "-t", "depot", "-n", "pg", "-r")
    assert depot.exit_code == 2
    assert "-r and --node follow a workflow's run; a depot has none" in depot.stderr


# --- log ------------------------------------------------------------------------------------


def test_log_of_one_node(lakes: Path) -> None:
    everything = ok("log", "-t", "workflow", "-n", "lakescan")
    assert "scan-a: extracted 1 datasets" in everything and "scan-b: extracted" in everything
    node = ok("log", "-w", "public", "-t", "workflow", "-n", "lakescan", "--node", "scan-a-execute")
    table, logs = node.split("-------------------LOGS-------------------")
    assert names(table) == ["scan-a-execute"]
    lines = logs.strip().splitlines()
    assert lines and all(re.match(r"\S+Z scan-a: ", line) for line in lines), lines
    assert "depot lakea" in logs and "lakeb" not in logs
    assert ok("logs", "-t", "workflow", "-n", "lakescan", "--node", "scan-a-execute") == node
    assert ok("resource", "log", "-t", "workflow", "-n", "lakescan", "--node", "scan-a") == node
    missing = run_cli("log", "-t", "workflow", "-n", "lakescan", "--node", "scan-c-execute")
    assert missing.exit_code == 4
    assert "no node 'scan-c-execute' in the last run of workflow 'lakescan' (run 1)" in (
        missing.stderr
    )
    assert "its nodes: scan-a-execute, scan-b-execute" in missing.stderr


def test_log_of_a_depot_is_its_checks_and_scans(lakes: Path) -> None:
    out = ok("log", "-t", "depot", "-n", "lakea")
    table, logs = out.split("-------------------LOGS-------------------")
    assert names(table) == ["lakea-check-r", "lakescan-run1-scan-a-execute"]
    assert "lakea-check-r                | check" in table
    assert re.search(r"\[lakea-check-r\] check with its r secret: ok \d+ ms", logs)
    assert re.search(r"\[lakea-check-r\]   ok list \d+ ms: list data files", logs)
    assert "[lakescan-run1-scan-a-execute] scan-a: extracted 1 datasets" in logs
    assert "scan-b" not in logs and "lakeb" not in logs  # the other depot's node is not its
    stamps = [line.split(" ", 1)[0] for line in logs.strip().splitlines()]
    assert stamps == sorted(stamps)
    only = ok("log", "-t", "depot", "-n", "lakea", "--node", "lakea-check-r", "-l", "2")
    only_table, only_logs = only.split("-------------------LOGS-------------------")
    assert names(only_table) == ["lakea-check-r"]
    assert len(only_logs.strip().splitlines()) == 2
    runtime = ok("get", "runtime", "-t", "depot", "-n", "lakea")
    assert "lakea | v2alpha | depot" in runtime
    assert "lakescan-run1-scan-a-execute | main           | succeeded" in runtime


def test_log_of_a_depot_is_read_like_the_depot(lakes: Path) -> None:
    add_user("bob")  # a plain user: not the depot's owner, no use case over everyone's depots
    refused = run_cli("log", "-t", "depot", "-n", "lakea", env={"ENTREPOT_USER": "bob"})
    assert refused.exit_code == 5, refused.output
    assert "user 'bob' may not read depot 'lakea'" in refused.stderr
    assert "lakea-check" not in refused.output
    add_user("dev", "roles:id:data-dev")  # data-dev may read every depot
    assert "lakea-check-r" in ok("log", "-t", "depot", "-n", "lakea", env={"ENTREPOT_USER": "dev"})
    missing = run_cli("log", "-t", "depot", "-n", "lakez")
    assert missing.exit_code == 4 and "depot 'lakez' not found" in missing.stderr


def test_get_runtime_of_one_node(lakes: Path) -> None:
    out = ok("get", "runtime", "-t", "workflow", "-n", "lakescan", "--node", "scan-b-execute")
    assert "scan-b-execute | scan-b   | scanner:2.0 | succeeded" in out
    assert re.search(r"depot +\| lakeb", out) and re.search(r"added +\| 1", out)
    as_yaml = ok("get", "runtime", "-n", "lakescan", "--node", "scan-b", "-y")
    assert "depot: lakeb" in as_yaml and "status: succeeded" in as_yaml


# --- resource update / create -----------------------------------------------------------------


def test_update_refuses_to_create(home: Path, tmp_path: Path) -> None:
    pair = write(tmp_path / "pair.yml", SECRET_AND_DEPOT.format(name="pg"))
    result = run_cli("resource", "update", "-f", str(pair))
    assert result.exit_code == 4, result.output
    assert result.stderr.count("error:") == 2  # one per missing resource
    assert (
        f"{pair}:1:1: error: name: instance-secret 'pg-r' does not exist: update changes "
        "existing resources only" in result.stderr
    )
    assert f"{pair}:9:1: error: name: depot 'pg' does not exist" in result.stderr
    assert f"hint: create it with: dataos-ctl apply -f {pair}" in result.stderr
    assert result.stdout == "" and ok("get", "-a") == ""  # nothing written
    ok("apply", "--no-verify", "-f", str(pair))
    write(pair, pair.read_text().replace("database: db", "database: sales"))
    updated = ok("update", "--no-verify", "-f", str(pair))
    assert updated.splitlines() == [
        "applying pg-r:v1:instance-secret...unchanged",
        "applying pg:v2alpha:depot...updated",
    ]
    extra = write(
        tmp_path / "more.yml", pair.read_text() + "---\n" + SECRET_AND_DEPOT.format(name="my")
    )
    partly = run_cli("resource", "update", "--no-verify", "-f", str(extra))
    assert partly.exit_code == 4 and partly.stderr.count("error:") == 2
    assert names(ok("get", "-t", "depot")) == ["pg"]  # all or nothing


def test_resource_create_refuses_to_update(home: Path, tmp_path: Path) -> None:
    pair = write(tmp_path / "pair.yml", SECRET_AND_DEPOT.format(name="pg"))
    created = ok("resource", "create", "--no-verify", "-f", str(pair))
    assert "applying pg:v2alpha:depot...created" in created
    again = run_cli("resource", "create", "-f", str(pair))
    assert again.exit_code == 5
    assert "depot 'pg' exists already: create makes new resources only" in again.stderr


# --- get -n: not found ------------------------------------------------------------------------


def test_get_of_a_missing_name_exits_4(home: Path, tmp_path: Path) -> None:
    apply_pair(tmp_path, "pg")
    for args, message in (
        (
            ("get", "-t", "depot", "-n", "pgg"),
            "depot 'pgg' not found among yours, did you mean 'pg'?",
        ),
        (("get", "-t", "depot", "-n", "pgg", "-a"), "depot 'pgg' not found, did you mean 'pg'?"),
        (("get", "-n", "nothing"), "no resource named 'nothing' among yours"),
        (("resource", "get", "-t", "workflow", "-n", "x"), "workflow 'x' not found among yours"),
        (
            ("get", "-t", "instance-secret", "-n", "pg-x", "--unSanitize"),
            "instance-secret 'pg-x' not found among yours, did you mean 'pg-r'?",
        ),
    ):
        result = run_cli(*args)
        assert result.exit_code == 4, (args, result.output)
        assert message in result.stderr, result.stderr
        assert "hint: " in result.stderr
    assert run_cli("get", "-t", "workflow").exit_code == 0  # a listing without a name: 0


def test_get_of_someone_elses_depot(home: Path, tmp_path: Path) -> None:
    add_user("bob")  # a plain user: lists only their own depots
    apply_pair(tmp_path, "bobs", user="bob")
    apply_pair(tmp_path, "alices")
    as_bob = run_cli("get", "-t", "depot", "-n", "alices", env={"ENTREPOT_USER": "bob"})
    assert as_bob.exit_code == 4
    assert "depot 'alices' not found among yours" in as_bob.stderr  # not "alice's"
    assert "alice" not in as_bob.stderr.replace("'alices'", "").replace("-n alices", "")
    assert "dataos-ctl get -t depot -n alices -a" in as_bob.stderr  # the hint to try -a
    as_alice = run_cli("get", "-t", "depot", "-n", "bobs")  # an operator, who may list all
    assert as_alice.exit_code == 4
    assert "depot 'bobs' is not yours: it is owned by 'bob'" in as_alice.stderr
    assert "see it with: dataos-ctl get -t depot -n bobs -a (or -o bob)" in as_alice.stderr
    assert names(ok("get", "-t", "depot", "-n", "bobs", "-a")) == ["bobs"]


def test_apply_says_whose_a_resource_is(home: Path, tmp_path: Path) -> None:
    add_user("bob")
    path = write(
        tmp_path / "bobs.yml",
        SECRET_AND_DEPOT.format(name="shop").replace("type: depot\n", "type: depot\nowner: bob\n"),
    )
    out = ok("apply", "--no-verify", "-f", str(path))
    assert out.splitlines() == [
        "applying shop-r:v1:instance-secret...created",
        "applying shop:v2alpha:depot...created",
        "  owned by 'bob' (its manifest's owner), so not among yours: list it with "
        "'dataos-ctl get -t depot -n shop -o bob' (or -a)",
    ]
    assert names(ok("get", "-t", "depot", "-n", "shop", "-o", "bob")) == ["shop"]
    assert ok("get", "-t", "depot", "-n", "shop", "-o", "bob").count("| bob") == 1


# --- version, user ----------------------------------------------------------------------------


def test_version(home: Path) -> None:
    result = run_process("version", program="dataos-ctl")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "client: entrepot 0.1.0 (dataos-ctl)",
        f"server: none (local store in {home})",
    ]
    assert not home.exists()  # nothing opened, nothing made


def test_user_get_as_the_docs_show_it(home: Path) -> None:
    add_user("bob", "roles:id:data-dev")
    me = ok("user", "get")
    assert me.splitlines() == [
        "   NAME |   ID  |  TYPE  | EMAIL |        TAGS",
        "  ------|-------|--------|-------|------------------",
        "  alice | alice | person |       | users:id:alice",
        "        |       |        |       | roles:id:user",
        "        |       |        |       | roles:id:operator",
    ]
    everyone = ok("user", "get", "-a")
    assert names(everyone) == ["alice", "", "", "bob", "", ""]
    assert "bob   | bob   | person |       | users:id:bob" in everyone
    assert "roles:id:data-dev" in ok("user", "get", "-i", "bob")
    assert ok("user", "get", "bob") == ok("user", "get", "-i", "bob")  # the positional form


def test_user_tag_add_and_delete_as_the_docs_write_them(home: Path) -> None:
    add_user("bob")
    added = ok("user", "tag", "add", "-i", "bob", "-t", "roles:id:data-dev")
    assert added.splitlines()[0] == "new tags: roles:id:data-dev"
    assert "bob | users:id:bob" in added and "    | roles:id:data-dev" in added
    twice = ok("user", "tag", "add", "-i", "bob", "-t", "roles:id:data-dev,dataos:u:people:user")
    assert twice.splitlines()[0] == "new tags: dataos:u:people:user"
    same = ok("user", "tag", "add", "-i", "bob", "-t", "roles:id:data-dev")
    assert same.splitlines()[0] == "no new tags: user bob has them already"
    deleted = ok("user", "tag", "delete", "-i", "bob", "-t", "roles:id:data-dev")
    assert deleted.splitlines()[0] == "deleted tags: roles:id:data-dev"
    assert "roles:id:data-dev" not in ok("user", "get", "-i", "bob")
    mine = ok("user", "tag", "add", "-t", "roles:id:analyst")  # -i: yourself
    assert mine.splitlines()[:3] == [
        "new tags: roles:id:analyst",
        "    ID  |        TAGS",
        "  ------|------------------",
    ]
    # entrepot's positional forms still work.
    assert ok("user", "tag", "add", "bob", "roles:id:x:y").startswith("new tags: roles:id:x:y")
    assert ok("user", "tag", "remove", "bob", "roles:id:x:y").startswith("deleted tags: ")
    mixed = run_cli("user", "tag", "add", "bob", "roles:id:a:b", "-t", "roles:id:c:d")
    assert mixed.exit_code == 2 and "not both" in mixed.stderr
    nothing = run_cli("user", "tag", "delete", "-i", "bob")
    assert nothing.exit_code == 2 and "name the tags to delete: -t TAG" in nothing.stderr
    assert ok("user", "delete", "-i", "bob") == "deleted user bob\n"


def test_a_dataos_type_entrepot_does_not_manage(home: Path) -> None:
    for args, rtype in (
        (("get", "-t", "service"), "service"),
        (("get", "runtime", "-t", "cluster", "-n", "x"), "cluster"),
    ):
        result = run_cli(*args)
        assert result.exit_code == 2
        assert (
            f"'{rtype}' is a DataOS resource type entrepot does not manage: it manages depot, "
            "instance-secret, policy, workflow" in result.stderr
        )
    no_runtime = run_cli("get", "runtime", "-t", "policy", "-n", "x")
    assert no_runtime.exit_code == 2
    assert "'policy' is not one of 'workflow', 'depot'" in no_runtime.stderr
    secret = run_cli("log", "-i", "pg-r:v1:instance-secret")
    assert secret.exit_code == 2
    assert (
        "'pg-r:v1:instance-secret' is of type instance-secret; this command takes workflow or "
        "depot" in secret.stderr
    )
    as_json = run_cli("get", "-t", "depot", "-n", "x", "--output", "json")
    assert as_json.exit_code == 4 and as_json.stdout == ""
    assert json.loads(ok("get", "-t", "depot", "--output", "json")) == []
