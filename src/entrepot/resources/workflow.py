"""The `workflow` kind (v1): a DAG of jobs, each run by a stack (`scanner:2.0`, ...).

Validated here; running workflows is the scanner's concern. A `scanner:*` job's `stackSpec` is
checked against the scanner's own model so mistakes surface at apply time, not at run time.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import AfterValidator, Field, ValidationInfo, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from entrepot.resources.base import Flag, ResourceMeta, Strict, Text

_CRON_FIELD = re.compile(r"[0-9A-Za-z*/,\-?LW#]+")
_STACK = re.compile(r"[a-z][a-z0-9-]*:[0-9][0-9a-z.]*")


class Schedule(Strict):
    cron: str = Field(description="Five-field cron expression.", examples=["0 2 * * *"])
    concurrencyPolicy: Literal["Allow", "Forbid", "Replace"] = "Allow"
    endOn: Text | None = None
    timezone: str | None = None

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        fields = value.split()
        if value.startswith("@"):
            return value
        if len(fields) != 5 or not all(_CRON_FIELD.fullmatch(f) for f in fields):
            raise ValueError(
                f"invalid cron expression '{value}': expected five fields "
                "(minute hour day-of-month month day-of-week), e.g. '0 2 * * *'"
            )
        return value


def _regex(pattern: str) -> str:
    try:
        re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"invalid regular expression '{pattern}': {exc}") from None
    return pattern


Regex = Annotated[str, AfterValidator(_regex)]


def _misplaced(option: str) -> PydanticCustomError:
    return PydanticCustomError(
        "entrepot",
        "{message}",
        {
            "message": f"'{option}' is not a filter setting: did you mean to put it under "
            "`sourceConfig.config`?",
            "hint": f"move '{option}' out of the filter pattern, to the level of "
            "databaseFilterPattern, schemaFilterPattern and tableFilterPattern (the DataOS "
            "scanner template indents it one level too deep; inside a filter it would be ignored)",
        },
    )


class FilterPattern(Strict):
    includes: list[Regex] = Field(default_factory=list, description="Regexes to keep.")
    excludes: list[Regex] = Field(default_factory=list, description="Regexes to drop.")
    # The DataOS scanner template indents these under tableFilterPattern, where they would do
    # nothing: declared only to be refused with where they belong (never offered as valid).
    markDeletedTables: SkipJsonSchema[Any] = Field(None, exclude=True)
    markDeletedTablesfromFilterOnly: SkipJsonSchema[Any] = Field(None, exclude=True)
    includeTags: SkipJsonSchema[Any] = Field(None, exclude=True)
    includeViews: SkipJsonSchema[Any] = Field(None, exclude=True)

    @field_validator(
        "markDeletedTables",
        "markDeletedTablesfromFilterOnly",
        "includeTags",
        "includeViews",
        mode="before",
    )
    @classmethod
    def _not_here(cls, value: Any, info: ValidationInfo) -> Any:
        raise _misplaced(str(info.field_name))


class ScannerConfig(Strict):
    type: Literal["DatabaseMetadata", "DashboardMetadata", "StorageMetadata"] = "DatabaseMetadata"
    databaseFilterPattern: FilterPattern | None = None
    schemaFilterPattern: FilterPattern | None = None
    tableFilterPattern: FilterPattern | None = None
    topicFilterPattern: FilterPattern | None = None
    markDeletedTables: Flag = False
    markDeletedTablesfromFilterOnly: Flag = False
    includeViews: Flag = False
    # Accepted as in DataOS; the sources scanned today (PostgreSQL, MySQL, object stores) have
    # no tags to include.
    includeTags: Flag = False
    ingestSampleData: Flag = False
    markDeletedTopics: Flag = False
    enableDebugLog: Flag = False
    # Entrepôt extensions (DataOS has no equivalent):
    statementTimeout: float = Field(
        300, gt=0, description="Seconds a single catalog query may run at the source."
    )
    markDeletedThreshold: float = Field(
        0.5, gt=0, le=1, description="Largest share of datasets one scan may mark deleted."
    )


class ScannerSourceConfig(Strict):
    config: ScannerConfig = Field(default_factory=ScannerConfig)


class ScannerStackSpec(Strict):
    depot: str = Field(description="dataos://<depot> or the depot's bare name.")
    type: str | None = None
    sourceConnection: dict[str, Any] | None = None
    sourceConfig: ScannerSourceConfig | None = None

    @field_validator("depot")
    @classmethod
    def _depot(cls, value: str) -> str:
        if not value.removeprefix("dataos://"):
            raise ValueError("expected dataos://<depot> or a depot name")
        return value


class JobSpec(Strict):
    stack: str = Field(description="Stack and version, e.g. scanner:2.0.")
    tags: list[Text] = Field(default_factory=list, description="Tags of the job (kept).")
    compute: str | None = None
    runAsUser: str | None = None
    stackSpec: dict[str, Any] = Field(default_factory=dict)
    dataosSecrets: list[dict[str, Any]] | None = None
    envs: dict[str, Text] | None = None
    logLevel: str | None = None
    resources: dict[str, Any] | None = None

    @field_validator("stack")
    @classmethod
    def _stack(cls, value: str) -> str:
        if not _STACK.fullmatch(value):
            raise ValueError(
                f"invalid stack '{value}': expected <stack>:<version>, e.g. scanner:2.0"
            )
        return value


class Job(Strict):
    name: str
    title: str | None = None
    description: str | None = None
    tags: list[Text] = Field(default_factory=list)
    spec: JobSpec
    dependencies: list[str] = Field(default_factory=list)


class WorkflowSpec(Strict):
    title: str | None = None
    schedule: Schedule | None = None
    dag: list[Job] = Field(min_length=1, description="Jobs and their dependencies.")

    @model_validator(mode="after")
    def _dag(self) -> Self:
        names = [job.name for job in self.dag]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(
                f"job names must be unique in a dag; repeated: {', '.join(duplicates)}"
            )
        known = set(names)
        for job in self.dag:
            for dep in job.dependencies:
                if dep not in known:
                    raise ValueError(f"job '{job.name}' depends on unknown job '{dep}'")
        _check_acyclic({job.name: job.dependencies for job in self.dag})
        return self


def _check_acyclic(graph: dict[str, list[str]]) -> None:
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        if state.get(node) == 2:
            return
        if state.get(node) == 1:
            cycle = [*trail[trail.index(node) :], node]
            raise ValueError(f"the dag has a cycle: {' -> '.join(cycle)}")
        state[node] = 1
        for dep in graph.get(node, []):
            visit(dep, [*trail, node])
        state[node] = 2

    for name in graph:
        visit(name, [])


class WorkflowV1(ResourceMeta):
    version: Literal["v1"]
    type: Literal["workflow"]
    workflow: WorkflowSpec


STACK_SPECS: dict[str, type[Strict]] = {"scanner": ScannerStackSpec}
