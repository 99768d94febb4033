"""Start-up, apply and get timings of the entrepot CLI, against its performance targets.

    .venv/bin/python bench/apply_get.py [--depots 1000] [--repeat 10] [--access-repeat 20]
                                        [--pre-access REV] [--importtime] [--keep]

Every command runs in a fresh process over a throwaway ENTREPOT_HOME (a temporary directory,
removed at the end unless --keep). Exit status: 0 when every measurement ran and every output
count was as expected (the PASS/FAIL target lines are informative only); 1 when a command failed
or printed the wrong counts. See bench/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import fnmatch
import io
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GET_OVERHEAD_TARGET_MS = 150.0
APPLY_TARGET_S = 10.0
ACCESS_RATIO_TARGET = 1.2  # get -a with 100 policies in force / the same without authorization
ACCESS_USER = "dev"  # the acting user of the access target: a data-dev, not the operator
SYSTEM_EVERY = 25  # every 25th depot is in the system layer, which a data-dev's -a does not show
REPO = Path(__file__).resolve().parent.parent
CHANGED_DEPOTS = 10
COMMAND_TIMEOUT_S = 900.0
FILES_PER_FOLDER = 100  # the manifests sit in sub-folders, so -R is exercised
GNU_TIME = Path("/usr/bin/time")

# `applying NAME:VERSION:TYPE...ACTION`, or `applying(WORKSPACE) ...` for workflows.
APPLY_LINE = re.compile(r"^applying(?:\([^)]*\))?\s*(?P<id>\S+)\.\.\.(?P<action>\w+)")
IMPORT_LINE = re.compile(r"^import time:\s*(?P<self>\d+)\s*\|\s*(?P<cum>\d+)\s*\|(?P<name>.*)$")

SECRET_DOC = """\
name: pg{i}-r
version: v1
type: instance-secret
description: read secret of bench depot pg{i}
layer: user
instance-secret:
  type: key-value-properties
  acl: r
  data:
    username: "user{i}"
    password: "{password}"
"""

DEPOT_DOC = """\
name: pg{i}
version: v2alpha
type: depot
layer: {layer}
depot:
  type: postgresql
  description: bench PostgreSQL depot {i}
  external: true
  secrets:
    - name: pg{i}-r
      allkeys: true
  jdbc:
    subprotocol: postgresql
    host: db{i}.example.com
    port: {port}
    database: sales
"""


class BenchError(Exception):
    """A command failed or printed something other than what was expected."""


@dataclass
class Run:
    seconds: float
    stdout: str
    stderr: str


@dataclass
class Timing:
    label: str
    samples: list[float] = field(default_factory=list)  # seconds

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000

    @property
    def min_ms(self) -> float:
        return min(self.samples) * 1000

    @property
    def max_ms(self) -> float:
        return max(self.samples) * 1000


# --- running commands -------------------------------------------------------------------------


def run(cmd: Sequence[str], env: dict[str, str]) -> Run:
    """Run `cmd` to completion with stdout/stderr piped; raise BenchError unless it exits 0."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            list(cmd),
            env=env,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise BenchError(f"timed out after {COMMAND_TIMEOUT_S:.0f} s: {_show(cmd)}") from exc
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        tail = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-20:])
        raise BenchError(f"exit {proc.returncode}: {_show(cmd)}\n{tail}")
    return Run(seconds, proc.stdout, proc.stderr)


def timed(
    label: str,
    cmd: Sequence[str],
    env: dict[str, str],
    repeat: int,
    check: Callable[[Run], None] | None = None,
) -> Timing:
    """One untimed warm-up run (checked), then `repeat` timed runs."""
    warm = run(cmd, env)
    if check is not None:
        check(warm)
    timing = Timing(label)
    for _ in range(repeat):
        timing.samples.append(run(cmd, env).seconds)
    return timing


def gnu_time_works() -> bool:
    if not GNU_TIME.exists():
        return False
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "rss"
        try:
            subprocess.run(
                [str(GNU_TIME), "-f", "%M", "-o", str(out), sys.executable, "-c", "pass"],
                capture_output=True,
                check=True,
                timeout=60,
            )
            return _read_rss(out) is not None
        except (OSError, subprocess.SubprocessError):
            return False


def run_with_rss(cmd: Sequence[str], env: dict[str, str], use_gnu_time: bool) -> tuple[Run, int]:
    """Run `cmd` once; return it and its peak RSS in KiB (of that process alone)."""
    if use_gnu_time:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "rss"
            result = run([str(GNU_TIME), "-f", "%M", "-o", str(out), *cmd], env)
            rss = _read_rss(out)
        if rss is None:
            raise BenchError(f"/usr/bin/time wrote no peak RSS for: {_show(cmd)}")
        return result, rss
    return _run_wait4(cmd, env)


def _run_wait4(cmd: Sequence[str], env: dict[str, str]) -> tuple[Run, int]:
    """Without /usr/bin/time: os.wait4 gives the rusage of this one child (KiB on Linux).

    Unlike getrusage(RUSAGE_CHILDREN), whose ru_maxrss is the maximum over every child reaped so
    far, this is the apply process's own peak.
    """
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(cmd), env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Run(seconds, out.read(), err.read())
    if proc.returncode != 0:
        tail = "\n".join((result.stderr or result.stdout).strip().splitlines()[-20:])
        raise BenchError(f"exit {proc.returncode}: {_show(cmd)}\n{tail}")
    return result, int(usage.ru_maxrss)


def _read_rss(path: Path) -> int | None:
    try:
        lines = path.read_text().split()
    except OSError:
        return None
    return int(lines[-1]) if lines and lines[-1].isdigit() else None


def _show(cmd: Sequence[str]) -> str:
    return " ".join(cmd)


# --- the manifests ----------------------------------------------------------------------------


def manifest_path(root: Path, i: int) -> Path:
    return root / f"batch-{i // FILES_PER_FOLDER:03d}" / f"pg{i:05d}.yaml"


def write_depot(root: Path, i: int, password: str, port: int) -> None:
    """One file per depot: its instance secret, then the depot (two YAML documents)."""
    path = manifest_path(root, i)
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = SECRET_DOC.format(i=i, password=password)
    depot = DEPOT_DOC.format(i=i, port=port, layer=depot_layer(i))
    path.write_text(f"{secret}---\n{depot}")


def depot_layer(i: int) -> str:
    return "system" if i % SYSTEM_EVERY == SYSTEM_EVERY - 1 else "user"


def generate(root: Path, count: int) -> dict[int, str]:
    """Write `count` depots with their secrets; return the random password of each."""
    # token_urlsafe: letters, digits, - and _ only (no '$' for interpolation, no quotes).
    passwords = {i: secrets.token_urlsafe(18) for i in range(count)}
    for i, password in passwords.items():
        write_depot(root, i, password, 5432)
    return passwords


def changed_indices(count: int, changes: int) -> list[int]:
    """`changes` depots spread evenly over the range."""
    changes = min(changes, count)
    return sorted({i * count // changes for i in range(changes)})


# --- the access target: policies, the acting user, what they may see ---------------------------

DEPOTS_PATH = "/ds/api/v2/depots/"

# Every policy names the acting user, `dev` (tags users:id:dev, roles:id:user, roles:id:data-dev),
# through one of these subject lists: exact tags, globs, and tags of others alongside.
ACCESS_SUBJECTS = [
    ["roles:id:data-dev"],
    ["users:id:dev"],
    ["roles:id:team-07", "users:id:dev"],
    ["roles:id:data-*"],
    ["users:id:d*"],
    ["roles:id:*", "users:id:alice"],
    ["users:id:**"],
    ["roles:id:system-dev", "roles:id:data-dev"],
]

# Deny `get` on depot items: these hide depots from the listing (globs over names, `**` too;
# a few match no depot, as policies written ahead of the depots they guard do).
HIDING = [
    "secret*", "archive*", "tmp?*", "pg9?7", "pg12", "pg55**", "pg33?", "pg1?0", "pg77*", "pg2?",
    "pg404", "pg6?6", "pg88**", "scratch*", "pg999", "pg1?1", "pg45?", "pg3?3", "staging*",
    "pg7?0", "pg20?", "pg61*", "pg9?9", "old*", "pg5?5",
]  # fmt: skip


@dataclass
class Policy:
    name: str
    subjects: list[str]
    predicates: list[str]
    paths: list[str]
    allow: bool

    def manifest(self) -> str:
        return (
            f"name: {self.name}\nversion: v1\ntype: policy\nlayer: user\n"
            f"description: bench policy\npolicy:\n  access:\n"
            f"    subjects:\n      tags: {json.dumps(self.subjects)}\n"
            f"    predicates: {json.dumps(self.predicates)}\n"
            f"    objects:\n      paths: {json.dumps(self.paths)}\n"
            f"    allow: {'true' if self.allow else 'false'}\n"
        )


def access_policies() -> list[Policy]:
    """100 policies that all apply to the acting user: 25 deny `get` on depot items (they hide
    depots), 15 deny other verbs on depot items, 10 deny `get` below depot items (data reads,
    not the listing), 20 on dataos:// addresses of datasets, 15 allow over depots, workflows
    and data, 15 on other kinds (instance secrets, workflows, users)."""
    out: list[Policy] = []

    def add(predicates: list[str], paths: list[str], allow: bool) -> None:
        i = len(out)
        subjects = ACCESS_SUBJECTS[i % len(ACCESS_SUBJECTS)]
        out.append(Policy(f"bench-{i:03d}", subjects, predicates, paths, allow))

    verbs = [["get"], ["get", "delete"], ["get", "put", "post"]]
    for k, pattern in enumerate(HIDING):
        add(verbs[k % 3], [DEPOTS_PATH + pattern], False)
    for k in range(15):
        paths = [f"{DEPOTS_PATH}pg{k}*", f"{DEPOTS_PATH}*/check", f"{DEPOTS_PATH}*/export"]
        add([["delete"], ["put", "patch"], ["post"]][k % 3], [paths[k % 3]], False)
    for k in range(10):
        add(["get"], [f"{DEPOTS_PATH}pg{k + 1}*/datasets", f"{DEPOTS_PATH}pg{k + 1}?/**"], False)
    for k in range(20):
        addresses = [f"dataos://pg{k}:public/*", f"dataos://pg{k}*:sales/**", "dataos://*:hr/*"]
        add([["read"], ["read", "write"], ["write"]][k % 3], [addresses[k % 3]], k % 2 == 0)
    for k in range(15):
        paths = [
            f"{DEPOTS_PATH}**",
            f"{DEPOTS_PATH}*/check",
            f"/ds/api/v2/workspaces/team-{k:02d}/workflows/**",
            "dataos://**",
            f"dataos://pg{k}*",
        ]
        predicates = [["get"], ["post"], ["get", "post"], ["read"], ["read", "write"]][k % 5]
        add(predicates, [paths[k % 5]], True)
    for k in range(15):
        paths = [
            f"/ds/api/v2/instance-secrets/pg{k}*-r",
            "/ds/api/v2/workspaces/**",
            f"/heimdall/api/v1/users/u{k}*",
        ]
        add([["get"], ["delete"], ["get", "put"]][k % 3], [paths[k % 3]], k % 2 == 1)
    return out


def expected_listing(policies: list[Policy], count: int) -> set[str]:
    """What `get -t depot -a` shows the acting user, worked out here independently of
    entrepot: a data-dev lists everyone's user-layer depots (use case "Manage All Instance-level
    Resources of DataOS in user layer"), less those a deny policy on `get` of the item's path
    names (`*` and `**` both match any name: names hold no '/')."""
    shown = {f"pg{i}" for i in range(count) if depot_layer(i) == "user"}
    for policy in policies:
        if policy.allow or "get" not in policy.predicates:
            continue
        for path in policy.paths:
            rest = path.removeprefix(DEPOTS_PATH)
            if rest != path and "/" not in rest:
                pattern = rest.replace("**", "*")
                shown = {name for name in shown if not fnmatch.fnmatchcase(name, pattern)}
    return shown


# --- checks -----------------------------------------------------------------------------------


def apply_actions(result: Run) -> Counter[str]:
    actions: Counter[str] = Counter()
    for line in result.stdout.splitlines():
        match = APPLY_LINE.match(line)
        if match:
            actions[match["action"]] += 1
    return actions


def expect_actions(step: str, result: Run, expected: Counter[str]) -> None:
    got = apply_actions(result)
    if got != expected:
        raise BenchError(
            f"{step}: expected {dict(expected)} `applying ...` lines, got {dict(got)}\n"
            f"stdout (first 10 lines):\n" + "\n".join(result.stdout.splitlines()[:10])
        )


def expect_updated(result: Run, indices: list[int]) -> None:
    updated = {
        m["id"]
        for line in result.stdout.splitlines()
        if (m := APPLY_LINE.match(line)) and m["action"] == "updated"
    }
    wanted = {f"pg{i}:v2alpha:depot" for i in indices}
    if updated != wanted:
        raise BenchError(f"updated {sorted(updated)}, expected {sorted(wanted)}")


def plain_get_checker(count: int) -> Callable[[Run], None]:
    wanted = {f"pg{i}" for i in range(count)}

    def check(result: Run) -> None:
        names: set[str] = set()
        for line in result.stdout.splitlines()[2:]:  # header, rule
            cells = [cell.strip() for cell in line.split("|")]
            if len(cells) >= 3 and cells[2] == "depot":
                names.add(cells[0])
        if names != wanted:
            missing = sorted(wanted - names)[:5]
            extra = sorted(names - wanted)[:5]
            raise BenchError(
                f"get -t depot -a listed {len(names)} depots, expected {count} "
                f"(missing e.g. {missing}, unexpected e.g. {extra})"
            )

    return check


def json_get_checker(count: int) -> Callable[[Run], None]:
    wanted = {f"pg{i}" for i in range(count)}

    def check(result: Run) -> None:
        try:
            records = json.loads(result.stdout)
        except json.JSONDecodeError as exc:
            raise BenchError(f"get --output json printed invalid JSON: {exc}") from exc
        names = {r.get("name") for r in records if r.get("type") == "depot"}
        if names != wanted or len(records) != count:
            raise BenchError(
                f"get --output json listed {len(records)} records, expected {count} depots"
            )

    return check


# --- the access target ------------------------------------------------------------------------


# The listing call alone, in one process, a fresh request context (reader, actor, authorizer)
# each time: authorized (`services.resources.list_resources`) against the same query without
# authorization keeping the same rows. Interleaved; prints medians in ms and the row counts.
IN_PROCESS = """
import json, statistics, sys, time
from pathlib import Path
from entrepot.config import load_settings
from entrepot.services import identity, resources
from entrepot.store import reader as reader_module

only = frozenset(Path(sys.argv[1]).read_text().split())
settings = load_settings()

def on():
    with identity.for_local_user(settings) as ctx:
        return resources.list_resources(ctx, rtype="depot", all_owners=True)

def off():
    with identity.for_local_user(settings) as ctx:
        rows = reader_module.list_resources(ctx.reader, rtype="depot")
        return [row for row in rows if row.name in only]

samples = {"on": [], "off": []}
rows = {"on": len(on()), "off": len(off())}
for _ in range(int(sys.argv[2])):
    for name, call in (("on", on), ("off", off)):
        start = time.perf_counter()
        call()
        samples[name].append((time.perf_counter() - start) * 1000)
print(json.dumps({name: [statistics.median(v), min(v), rows[name]] for name, v in samples.items()}))
"""


def listed_names(step: str, result: Run) -> list[str]:
    try:
        records = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise BenchError(f"{step}: get --output json printed invalid JSON: {exc}") from exc
    return [r.get("name") for r in records if r.get("type") == "depot"]


def expect_listing(step: str, result: Run, wanted: set[str]) -> None:
    names = listed_names(step, result)
    if len(names) != len(wanted) or set(names) != wanted:
        missing = sorted(wanted - set(names))[:5]
        extra = sorted(set(names) - wanted)[:5]
        raise BenchError(
            f"{step}: listed {len(names)} depots, expected {len(wanted)} "
            f"(missing e.g. {missing}, unexpected e.g. {extra})"
        )


def pre_access_tree(rev: str, tmp: Path) -> Path:
    """The `src/` of `rev` (a commit before access control) extracted into `tmp`."""
    try:
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", "--format=tar", rev, "src"],
            capture_output=True,
            check=True,
            timeout=120,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise BenchError(f"--pre-access {rev}: git archive failed: {exc}") from exc
    target = tmp / "pre-access"
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return target / "src"


def access_target(
    args: argparse.Namespace, tmp: Path, env: dict[str, str], entrepot: Path, root: Path
) -> None:
    """`get -t depot -a --output json` as a data-dev with 100 policies in force, against the
    same CLI path with authorization taken out (bench/get_unauthorized.py), and optionally
    against the code before access control existed (--pre-access REV)."""
    count: int = args.depots
    repeat: int = args.access_repeat
    policies = access_policies()
    folder = tmp / "policies"
    folder.mkdir()
    for policy in policies:
        (folder / f"{policy.name}.yaml").write_text(policy.manifest())
    run([str(entrepot), "user", "create", ACCESS_USER, "--tag", "roles:id:data-dev"], env)
    applied = run([str(entrepot), "apply", "-f", str(folder)], env)
    expect_actions("policies apply", applied, Counter(created=len(policies)))
    wanted = expected_listing(policies, count)
    names_file = tmp / "visible-names.txt"
    names_file.write_text("\n".join(sorted(wanted)) + "\n")
    every = {f"pg{i}" for i in range(count)}

    dev_env = {**env, "ENTREPOT_USER": ACCESS_USER}
    get_args = ["get", "-t", "depot", "-a", "--output", "json"]
    unauthorized = [sys.executable, str(Path(__file__).with_name("get_unauthorized.py"))]
    # key -> (label, command, environment)
    variants: dict[str, tuple[str, list[str], dict[str, str]]] = {
        "on": ("on: entrepot get, as dev", [str(entrepot), *get_args], dev_env),
        "off": (
            "off: same path unauthorized, same rows",
            [*unauthorized, "--only", str(names_file), *get_args],
            dev_env,
        ),
        "off-all": ("off: same path unauthorized, all rows", [*unauthorized, *get_args], dev_env),
    }
    if args.pre_access:
        src = pre_access_tree(args.pre_access, tmp)
        pre_home = tmp / "home-pre-access"
        pre_home.mkdir()
        pre_env = {**env, "ENTREPOT_HOME": str(pre_home), "PYTHONPATH": str(src)}
        launcher = [sys.executable, "-c", "import sys; from entrepot.cli.main import main; main()"]
        where = run([sys.executable, "-c", "import entrepot; print(entrepot.__file__)"], pre_env)
        if not where.stdout.strip().startswith(str(src)):
            raise BenchError(f"--pre-access: entrepot imported from {where.stdout.strip()}")
        created = run([*launcher, "apply", "-f", str(root), "-R", "--no-verify"], pre_env)
        expect_actions("pre-access apply", created, Counter(created=2 * count))
        variants["pre-access"] = (
            f"pre-access {args.pre_access}: get, all rows",
            [*launcher, *get_args],
            pre_env,
        )

    # One checked warm-up each: the rows the policies imply, and byte for byte the same output
    # on both sides of the comparison.
    warm = {key: run(cmd, cmd_env) for key, (_, cmd, cmd_env) in variants.items()}
    expect_listing("access control on", warm["on"], wanted)
    if warm["off"].stdout != warm["on"].stdout:
        raise BenchError("get_unauthorized.py --only printed other bytes than the authorized get")
    expect_listing("access control off, all rows", warm["off-all"], every)
    if "pre-access" in warm:
        expect_listing("pre-access", warm["pre-access"], every)

    # Timed runs, interleaved (on, off, off-all, [pre-access], on, ...): a machine slowing down
    # for a while weighs on every variant alike.
    timings = {key: Timing(label) for key, (label, _, _) in variants.items()}
    for _ in range(repeat):
        for key, (_, cmd, cmd_env) in variants.items():
            timings[key].samples.append(run(cmd, cmd_env).seconds)

    print(
        f"access control: `get -t depot -a --output json` over {count:,} depots as "
        f"'{ACCESS_USER}' (roles:id:data-dev), {len(policies)} policies applying to them"
    )
    width = max(len(t.label) for t in timings.values())
    header = f"{'runs':>4}  {'median ms':>10}  {'min ms':>9}  {'max ms':>9}  rows"
    print(f"{'variant':<{width}}  {header}")
    print(f"{'-' * width}  {'-' * 4}  {'-' * 10}  {'-' * 9}  {'-' * 9}  {'-' * 5}")
    for key, t in timings.items():
        rows = len(listed_names(key, warm[key]))
        print(
            f"{t.label:<{width}}  {repeat:>4}  {t.median_ms:10.1f}  {t.min_ms:9.1f}  "
            f"{t.max_ms:9.1f}  {rows:>5}"
        )
    user_layer = sum(depot_layer(i) == "user" for i in range(count))
    print(
        f"(interleaved runs; rows: {len(wanted)} of {count:,}, as the policies imply: "
        f"{count - user_layer} in the system layer, {user_layer - len(wanted)} denied `get` on "
        "their path; checked in the JSON output)"
    )
    on = timings["on"]
    for key in timings:
        if key != "on":
            extra = on.median_ms - timings[key].median_ms
            ratio = on.median_ms / timings[key].median_ms
            print(f"on / {key}: {ratio:.3f}x ({extra:+.1f} ms)")
    inner = json.loads(
        run([sys.executable, "-c", IN_PROCESS, str(names_file), "200"], dev_env).stdout
    )
    if inner["on"][2] != len(wanted) or inner["off"][2] != len(wanted):
        raise BenchError(f"in-process listing: rows {inner}, expected {len(wanted)}")
    print(
        f"in process, the listing call alone (fresh request context, medians of 200): "
        f"authorized {inner['on'][0]:.2f} ms, unauthorized {inner['off'][0]:.2f} ms "
        f"({inner['on'][0] - inner['off'][0]:+.2f} ms; minimums {inner['on'][1]:.2f} / "
        f"{inner['off'][1]:.2f} ms)"
    )
    ratio = on.median_ms / timings["off"].median_ms
    low = on.min_ms / timings["off"].min_ms
    print(
        f"get -a with {len(policies)} policies <= {ACCESS_RATIO_TARGET}x without authorization "
        f"(same rows, medians): {_verdict(ratio <= ACCESS_RATIO_TARGET)} ({ratio:.3f}x; "
        f"minimums {low:.3f}x)"
    )


# --- -X importtime ----------------------------------------------------------------------------


@dataclass
class Import:
    name: str
    depth: int
    self_us: int
    cumulative_us: int


def parse_importtime(stderr: str) -> list[Import]:
    imports: list[Import] = []
    for line in stderr.splitlines():
        match = IMPORT_LINE.match(line)
        if not match:
            continue  # the header line, or anything the command itself printed
        raw = match["name"][1:]  # one space after the '|'
        name = raw.lstrip()
        imports.append(
            Import(name, (len(raw) - len(name)) // 2, int(match["self"]), int(match["cum"]))
        )
    return imports


def print_importtime(script: Path, args: Sequence[str], env: dict[str, str]) -> None:
    cmd = [sys.executable, "-X", "importtime", str(script), *args]
    result = run(cmd, env)
    imports = parse_importtime(result.stderr)
    if not imports:
        raise BenchError("python -X importtime printed no import timings")
    total = sum(i.cumulative_us for i in imports if i.depth == 0)
    print()
    command = " ".join(args)
    print(f"-X importtime of `entrepot {command}` (one run; all imports: {total / 1000:.1f} ms)")
    print("  top 10 by cumulative time (nested: a parent's time includes its children's)")
    print(f"  {'cumul ms':>9} {'self ms':>8}  module")
    for item in sorted(imports, key=lambda i: i.cumulative_us, reverse=True)[:10]:
        indent = "  " * item.depth
        print(f"  {item.cumulative_us / 1000:9.1f} {item.self_us / 1000:8.1f}  {indent}{item.name}")
    by_package: Counter[str] = Counter()
    for item in imports:
        by_package[item.name.split(".")[0]] += item.self_us
    print("  top 10 packages by total self time (disjoint; they add up to the total)")
    for package, micros in by_package.most_common(10):
        print(f"  {micros / 1000:9.1f}           {package}")


# --- main -------------------------------------------------------------------------------------


def clean_env(home: Path) -> dict[str, str]:
    """The caller's environment minus every ENTREPOT_* (no real store, no real master key)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ENTREPOT_")}
    env["ENTREPOT_HOME"] = str(home)
    env["ENTREPOT_USER"] = "bench"
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("PYTHONPROFILEIMPORTTIME", None)
    return env


def find_entrepot() -> Path:
    script = Path(sys.executable).parent / "entrepot"
    if script.exists():
        return script
    found = shutil.which("entrepot")
    if found is None:
        raise BenchError(
            "no entrepot console script next to this interpreter; run with .venv/bin/python"
        )
    return Path(found)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Time entrepot's start, a bulk apply and get, against the targets."
    )
    parser.add_argument("--depots", type=int, default=1000, help="depots (each + 1 secret)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per median")
    parser.add_argument(
        "--access-repeat", type=int, default=20, help="timed runs of each access variant"
    )
    parser.add_argument(
        "--pre-access",
        metavar="REV",
        help="also time get with the code of REV, a commit before access control (b4d7330)",
    )
    parser.add_argument(
        "--importtime", action="store_true", help="also show -X importtime of get's start"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)
    if args.depots < 1 or args.repeat < 1 or args.access_repeat < 1:
        parser.error("--depots, --repeat and --access-repeat must be at least 1")
    return args


def bench(args: argparse.Namespace, tmp: Path) -> None:
    entrepot = find_entrepot()
    root = tmp / "manifests"
    home = tmp / "home"
    home.mkdir()
    env = clean_env(home)
    count: int = args.depots
    repeat: int = args.repeat
    resources = 2 * count
    use_gnu_time = gnu_time_works()

    print(f"python {sys.version.split()[0]} at {sys.executable}")
    print(f"entrepot at {entrepot}; {count:,} depots + {count:,} secrets; medians of {repeat} runs")
    print(f"temporary directory: {tmp}{' (kept)' if args.keep else ''}")
    print()

    bare = timed("python -c pass", [sys.executable, "-c", "pass"], env, repeat)
    help_ = timed("entrepot --help", [str(entrepot), "--help"], env, repeat)

    generate(root, count)
    # --no-verify: this measures storing; connection checks are network-bound and measured by
    # bench/check.py (1,000 unique, unresolvable hosts would measure the DNS server instead).
    apply_cmd = [str(entrepot), "apply", "-f", str(root), "-R", "--no-verify"]
    created, rss_kib = run_with_rss(apply_cmd, env, use_gnu_time)
    expect_actions("first apply", created, Counter(created=resources))
    unchanged = run(apply_cmd, env)
    expect_actions("second apply", unchanged, Counter(unchanged=resources))
    indices = changed_indices(count, CHANGED_DEPOTS)
    for i in indices:
        content = manifest_path(root, i).read_text()
        manifest_path(root, i).write_text(content.replace("port: 5432", "port: 5433"))
    updated = run(apply_cmd, env)
    expect_actions(
        "third apply", updated, Counter(updated=len(indices), unchanged=resources - len(indices))
    )
    expect_updated(updated, indices)

    get_args = ["get", "-t", "depot", "-a"]
    get_plain = timed(
        "get -t depot -a  (piped)",
        [str(entrepot), *get_args],
        env,
        repeat,
        plain_get_checker(count),
    )
    get_json = timed(
        "get -t depot -a --output json",
        [str(entrepot), *get_args, "--output", "json"],
        env,
        repeat,
        json_get_checker(count),
    )

    rows: list[tuple[str, str, float, float, float]] = []
    for timing in (bare, help_, get_plain, get_json):
        rows.append((timing.label, f"{repeat}", timing.median_ms, timing.min_ms, timing.max_ms))
    for label, result in (
        (f"apply -R: {resources:,} created", created),
        (f"apply -R: {resources:,} unchanged", unchanged),
        (f"apply -R: {len(indices)} updated", updated),
    ):
        ms = result.seconds * 1000
        rows.append((label, "1", ms, ms, ms))

    base = bare.median_ms
    width = max(len(r[0]) for r in rows)
    print(
        f"{'command':<{width}}  {'runs':>4}  {'median ms':>10}  {'min ms':>9}  {'max ms':>9}  ratio"
    )
    print(f"{'-' * width}  {'-' * 4}  {'-' * 10}  {'-' * 9}  {'-' * 9}  {'-' * 7}")
    for label, runs, median, low, high in rows:
        ratio = median / base
        print(
            f"{label:<{width}}  {runs:>4}  {median:10.1f}  {low:9.1f}  {high:9.1f}  {ratio:6.1f}x"
        )
    print("(ratio: median / median of `python -c pass`; apply rows are single runs)")
    print()

    overhead = get_plain.median_ms - bare.median_ms
    json_overhead = get_json.median_ms - bare.median_ms
    help_overhead = help_.median_ms - bare.median_ms
    apply_s = created.seconds
    per_resource = created.seconds * 1000 / resources
    rss_source = "/usr/bin/time -f %M" if use_gnu_time else "os.wait4 ru_maxrss"
    print(f"CLI overhead (get, piped, minus bare start): {overhead:7.1f} ms")
    print(f"CLI overhead (get --output json):            {json_overhead:7.1f} ms")
    print(f"CLI overhead (--help):                       {help_overhead:7.1f} ms")
    print(f"first apply: {apply_s:.2f} s for {resources:,} resources ({per_resource:.2f} ms each)")
    print(f"peak RSS of the first apply: {rss_kib / 1024:.1f} MiB ({rss_source})")
    print()
    fast = overhead <= GET_OVERHEAD_TARGET_MS
    print(f"CLI overhead for get <= {GET_OVERHEAD_TARGET_MS:.0f} ms: {_verdict(fast)}")
    note = "" if count == 1000 else f" (target is for 1,000; this run: {count:,})"
    print(
        f"1,000 depots + secrets applied <= {APPLY_TARGET_S:.0f} s: "
        f"{_verdict(apply_s <= APPLY_TARGET_S)}{note}"
    )

    print()
    access_target(args, tmp, env, entrepot, root)

    if args.importtime:
        print_importtime(entrepot, get_args, env)


def _verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def run_in_tmp(prefix: str, bench: Callable[[Path], None]) -> int:
    """The benches that start their own PostgreSQL: a temporary folder the postgres user can
    traverse, `bench(folder)`, exit status 1 with `bench FAILED: ...` on any error, cleaned up."""
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    tmp.chmod(0o755)  # the postgres user must traverse it
    try:
        bench(tmp)
    except Exception as error:  # BenchError, a server that did not start, a driver error
        print(f"\nbench FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    tmp = Path(tempfile.mkdtemp(prefix="entrepot-bench-"))
    try:
        bench(args, tmp)
    except BenchError as error:
        print(f"\nbench FAILED: {error}", file=sys.stderr)
        return 1
    finally:
        if args.keep:
            print(f"\nkept {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
