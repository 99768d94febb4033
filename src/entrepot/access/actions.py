"""The vocabulary of access: every action a front end can ask for, once.

An action is a verb on a kind of resource (`depot:list`, `instance-secret:unsanitize`,
`dataset:read`, ...). Each has its canonical REST route (method and path, e.g. listing depots is
`GET /ds/api/v2/depots`), so a policy on a path means the same on the CLI as over HTTP, and the
predicate it takes on a `dataos://` address (`read`, `write`, ...). Whether owning the resource
grants it is declared here too; which use cases grant it is in `usecases.py`.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    name: str  # "<kind>:<verb>"
    method: str  # the HTTP method of its route
    route: str  # its path, with {name}, {workspace}, {depot} filled from the target
    predicate: str  # the verb a policy names for a dataos:// address: read, write, create, ...
    owner_may: bool  # owning the target grants it
    summary: str

    @property
    def kind(self) -> str:
        return self.name.split(":", 1)[0]

    @property
    def verb(self) -> str:
        return self.name.split(":", 1)[1]

    def path(self, name: str | None = None, workspace: str | None = None) -> str:
        return self.route.format(name=name or "", workspace=workspace or "public").rstrip("/")


_DS = "/ds/api/v2"
_HEIMDALL = "/heimdall/api/v1"


def _crud(kind: str, collection: str, *, owner_may: bool = True) -> list[Action]:
    """list, list-all, read, create, update, delete of one resource kind."""
    item = f"{collection}/{{name}}"
    return [
        Action(f"{kind}:list", "GET", collection, "read", True, f"list your own {kind}s"),
        Action(f"{kind}:list-all", "GET", collection, "read", False, f"list everyone's {kind}s"),
        Action(f"{kind}:read", "GET", item, "read", True, f"read a {kind}"),
        Action(f"{kind}:create", "POST", item, "create", owner_may, f"create a {kind}"),
        Action(f"{kind}:update", "PUT", item, "update", owner_may, f"update a {kind}"),
        Action(f"{kind}:delete", "DELETE", item, "delete", owner_may, f"delete a {kind}"),
    ]


_ACTIONS = [
    *_crud("depot", f"{_DS}/depots"),
    Action("depot:check", "POST", f"{_DS}/depots/{{name}}/check", "read", True,
           "check a depot's connection (decrypts its secret)"),
    Action("depot:scan", "POST", f"{_DS}/depots/{{name}}/scan", "read", True,
           "scan a depot's metadata into the catalog (decrypts its secret)"),
    Action("depot:export", "POST", f"{_DS}/depots/{{name}}/export", "read", True,
           "export a depot's connection with its secret (Trino)"),
    Action("dataset:read", "GET", f"{_DS}/depots/{{name}}/datasets", "read", True,
           "read a depot's data: query, Spark (decrypts its r secret)"),
    Action("dataset:write", "POST", f"{_DS}/depots/{{name}}/datasets", "write", True,
           "write a depot's data (decrypts its rw secret)"),
    *_crud("instance-secret", f"{_DS}/instance-secrets"),
    Action("instance-secret:unsanitize", "GET", f"{_DS}/instance-secrets/{{name}}/data", "read",
           False, "read an instance secret's values"),
    *_crud("workflow", f"{_DS}/workspaces/{{workspace}}/workflows"),
    Action("workflow:run", "POST", f"{_DS}/workspaces/{{workspace}}/workflows/{{name}}/runs",
           "create", True, "run a workflow"),
    # Policies decide access: owning one must not let a user widen their own rights.
    *_crud("policy", f"{_DS}/policies", owner_may=False),
    Action("catalog:read", "GET", "/metis/api/v2/datasets", "read", True,
           "read the catalog (its entries are filtered by dataset:read)"),
    Action("user:list", "GET", f"{_HEIMDALL}/users", "read", False, "list users"),
    Action("user:read", "GET", f"{_HEIMDALL}/users/{{name}}", "read", True, "read a user"),
    Action("user:create", "POST", f"{_HEIMDALL}/users/{{name}}", "create", False, "create a user"),
    Action("user:update", "PUT", f"{_HEIMDALL}/users/{{name}}", "update", False,
           "change a user's tags"),
    Action("user:delete", "DELETE", f"{_HEIMDALL}/users/{{name}}", "delete", False,
           "delete a user"),
    Action("usecase:list", "GET", f"{_HEIMDALL}/use-cases", "read", True, "list use cases"),
    Action("usecase:grant", "PUT", f"{_HEIMDALL}/use-cases/{{name}}/grants", "update", False,
           "grant or revoke a use case"),
    Action("audit:read", "GET", f"{_DS}/audit", "read", False, "read the audit trail"),
    Action("key:rotate", "POST", f"{_DS}/admin/rotate-key", "update", False,
           "rotate the master key"),
]  # fmt: skip

ACTIONS: dict[str, Action] = {action.name: action for action in _ACTIONS}
KINDS = ("depot", "instance-secret", "workflow", "policy")  # the resource kinds of manifests


def action(name: str) -> Action:
    return ACTIONS[name]
