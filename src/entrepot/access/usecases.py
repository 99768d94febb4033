"""The built-in use cases (DataOS's ids and names) and the roles' default grants.

A use case grants a set of actions, on every target or under a condition (`layer: user` for the
instance-level one; `readable` for Un-sanitize, which shows the values of secrets you may read).
Grants of use cases to tags are stored (`usecase grant|revoke`); these are the defaults a store
starts with. Ours beyond DataOS's catalogue are marked so in their description.
"""

from __future__ import annotations

from dataclasses import dataclass, field

ALL = "all"
USER_LAYER = "layer:user"
READABLE = "readable"  # the actor may read the target (ownership, a use case, a policy)


@dataclass(frozen=True)
class UseCase:
    id: str
    name: str
    category: str
    description: str
    grants: dict[str, str] = field(default_factory=dict)  # action -> condition


def _all(*actions: str) -> dict[str, str]:
    return dict.fromkeys(actions, ALL)


def _crud(kind: str, condition: str = ALL) -> dict[str, str]:
    verbs = ("list", "list-all", "read", "create", "update", "delete")
    return {f"{kind}:{verb}": condition for verb in verbs}


_DEPOT_USE = ("depot:check", "depot:scan", "depot:export", "dataset:read")

USE_CASES: dict[str, UseCase] = {
    uc.id: uc
    for uc in [
        UseCase(
            "manage-all-depot",
            "Manage All Depot",
            "resource-management",
            "Give permission to create, delete, update all depot (and list and read them)",
            _crud("depot"),
        ),
        UseCase(
            "manage-all-other-resources-in-user-layer",
            "Manage All Instance-level Resources of DataOS in user layer",
            "resource-management",
            "Create, read, update, delete depots and instance secrets of the user layer",
            {**_crud("depot", USER_LAYER), **_crud("instance-secret", USER_LAYER)},
        ),
        UseCase(
            "manage-secrets",
            "Manage Secrets",
            "governance",
            "Create, read, update, delete every instance secret (values stay hidden)",
            _crud("instance-secret"),
        ),
        UseCase(
            "read-all-secrets-from-heimdall",
            "Read All Secrets From Heimdall",
            "governance",
            "read All secrets in the heimdall vault: their values, and their use in any depot",
            _all(
                "instance-secret:list",
                "instance-secret:list-all",
                "instance-secret:read",
                "instance-secret:unsanitize",
            ),
        ),
        UseCase(
            "un-sanitize-resource",
            "Un-sanitize Resources",
            "governance",
            "makes secrets and sensitive fields visible (of the resources you may read)",
            {"instance-secret:unsanitize": READABLE},
        ),
        UseCase(
            "read-all-dataset",
            "Read All Dataset",
            "data",
            "Read the data of every depot: query, check, scan, Spark, export",
            _all("depot:read", *_DEPOT_USE),
        ),
        UseCase(
            "manage-all-dataset",
            "Manage All Dataset",
            "data",
            "Write the data of every depot that has an rw secret",
            _all("dataset:write"),
        ),
        UseCase(
            "read-workspace",
            "Read Workspace",
            "resource-management",
            "List and read the workflows of every workspace",
            _all("workflow:list", "workflow:list-all", "workflow:read"),
        ),
        UseCase(
            "run-as-scanner-user",
            "Run as Scanner User",
            "data",
            "Run scanner workflows on any depot",
            _all("depot:scan", "workflow:run"),
        ),
        UseCase(
            "manage-metis",
            "Manage Metis",
            "data",
            "Read the whole catalog and scan any depot into it",
            _all("catalog:read", "depot:scan"),
        ),
        UseCase(
            "manage-access",
            "Manage Users, Use Cases and Policies",
            "governance",
            "Entrepôt's: users, their tags, use-case grants and policy resources",
            {
                **_crud("policy"),
                **_all(
                    "user:list",
                    "user:read",
                    "user:create",
                    "user:update",
                    "user:delete",
                    "usecase:list",
                    "usecase:grant",
                ),
            },
        ),
        UseCase(
            "read-audit-trail",
            "Read Audit Trail",
            "governance",
            "Entrepôt's: who applied, deleted, decrypted or was refused what",
            _all("audit:read"),
        ),
        UseCase(
            "manage-master-key",
            "Manage Master Key",
            "governance",
            "Entrepôt's: rotate the master key of the store",
            _all("key:rotate"),
        ),
    ]
}

OPERATOR, DATA_DEV, SYSTEM_DEV, USER = (
    "roles:id:operator",
    "roles:id:data-dev",
    "roles:id:system-dev",
    "roles:id:user",
)
ROLES = (USER, DATA_DEV, SYSTEM_DEV, OPERATOR)

DEFAULT_GRANTS: dict[str, tuple[str, ...]] = {
    USER: (),  # owners manage their own resources; nothing of anyone else's
    DATA_DEV: ("manage-all-other-resources-in-user-layer", "read-workspace", "read-all-dataset"),
    SYSTEM_DEV: (
        "manage-all-depot",
        "manage-all-dataset",
        "manage-secrets",
        "read-workspace",
        "read-all-dataset",
    ),
    OPERATOR: (
        "manage-all-depot",
        "manage-all-dataset",
        "manage-secrets",
        "read-all-secrets-from-heimdall",
        "un-sanitize-resource",
        "read-all-dataset",
        "read-workspace",
        "run-as-scanner-user",
        "manage-metis",
        "manage-access",
        "read-audit-trail",
        "manage-master-key",
    ),
}


def default_grants() -> list[tuple[str, str]]:
    """(use case id, tag) pairs a new store starts with."""
    return [(uc, tag) for tag, ids in DEFAULT_GRANTS.items() for uc in ids]


def granting(action_name: str) -> list[UseCase]:
    """The use cases that grant an action, for "missing use case" messages."""
    return [uc for uc in USE_CASES.values() if action_name in uc.grants]
