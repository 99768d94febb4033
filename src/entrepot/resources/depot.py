"""The `depot` kind: v1 (`depot.spec` + inline `connectionSecret`) and v2alpha (`depot.<type>:`).

The outer models keep the connection block as a mapping; `validate_block` checks it against the
block model of the depot's source type afterwards, because which model applies depends on
`depot.type` and, for `jdbc`, on `subprotocol`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, Field, create_model, field_validator

from entrepot.resources.base import Flag, ResourceMeta, Strict, Text
from entrepot.resources.depot_types import ALL_BLOCK_KEYS
from entrepot.resources.instance_secret import SecretPayloadMixin, SecretType, normalise_secret_type


class SecretRef(Strict):
    """A reference to an instance secret (`depot.secrets[]`)."""

    name: str = Field(description="Instance secret name, by convention `<depot>-<acl>`.")
    keys: list[Text] | None = Field(None, description="Keys of the secret to expose.")
    allkeys: Flag = Field(False, description="Expose every key of the secret.")


class ResourceQuantities(Strict):
    cpu: Text | None = None
    memory: Text | None = None


class Resources(Strict):
    requests: ResourceQuantities | None = None
    limits: ResourceQuantities | None = None


class SecretPurposeRef(Strict):
    """A reference to a secret in the DataOS 2.0 form (`spec.secrets[]`)."""

    id: str = Field(
        description="<tenant>:<secret name>; the tenant is not checked (entrepot has one).",
        examples=["engineering:snowflake-secret-r"],
    )
    purpose: Literal["scan", "query", "rw"] = Field(
        description="scan and query read (acl r), rw writes (acl rw)."
    )

    @field_validator("purpose", mode="before")
    @classmethod
    def _purpose(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        tenant, colon, name = value.rpartition(":")
        if not name or (colon and (not tenant or ":" in tenant)):
            raise ValueError(
                f"invalid secret id '{value}': expected <tenant>:<secret name>, "
                "e.g. engineering:postgres-r"
            )
        return value


class DepotCommon(Strict):
    type: str = Field(description="Source type, case-insensitive (postgresql, ABFSS, jdbc, ...).")
    description: str | None = None
    external: Flag = Field(False, description="The data lives outside DataOS/Entrepôt.")
    source: str | None = Field(None, description="Catalog source name; defaults to the depot name.")
    compute: str | None = Field(None, description="Compute resource name (kept, informational).")
    hiveSync: Flag | None = None
    name: str | None = Field(None, description="Repeats the resource name (v1 Azure examples).")
    owner: str | None = None
    resources: Resources | None = None

    @field_validator("type")
    @classmethod
    def _type(cls, value: str) -> str:
        return value.strip()


class DepotSpecBase(DepotCommon):
    secrets: list[SecretRef] = Field(default_factory=list, description="Instance secrets used.")


class InlineConnectionSecret(SecretPayloadMixin):
    """v1 `depot.connectionSecret[]`: values inline in the depot, encrypted like a secret."""

    acl: Literal["r", "rw"]
    type: SecretType | None = None
    values: dict[str, Text] | None = Field(None, description="Elasticsearch v1 form of data.")

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return normalise_secret_type(value)


class DepotSpecV1(DepotSpecBase):
    spec: dict[str, Any] = Field(description="Connection fields of the source type.")
    connectionSecret: list[InlineConnectionSecret] = Field(
        default_factory=list,
        validation_alias=AliasChoices("connectionSecret", "connectionSecrets"),
        description="Inline credentials (prefer instance secrets).",
    )


class DepotSpecV2Base(DepotSpecBase):
    """v2alpha: exactly one `<type>:` block, checked by `validate_block`."""


# One optional mapping per known block key, so an unknown key gets "did you mean".
DepotSpecV2 = create_model(
    "DepotSpecV2",
    __base__=DepotSpecV2Base,
    **{
        key: (dict[str, Any] | None, Field(None, description=f"Connection block ({key})."))
        for key in ALL_BLOCK_KEYS
    },  # type: ignore[call-overload]
)


class DepotV1(ResourceMeta):
    version: Literal["v1"]
    type: Literal["depot"]
    depot: DepotSpecV1


class DepotV2Alpha(ResourceMeta):
    version: Literal["v2alpha"]
    type: Literal["depot"]
    depot: DepotSpecV2


class DepotSpecTenant(DepotCommon):
    """The DataOS 2.0 docs' `spec:`: the connection block is `spec.spec`, whatever the type, and
    secrets are named by id with the purpose they serve."""

    spec: dict[str, Any] = Field(description="Connection fields of the source type.")
    secrets: list[SecretPurposeRef] = Field(
        default_factory=list, description="Secrets used, each for a purpose: scan, query, rw."
    )


class DepotV2Spec(ResourceMeta):
    """`version: v2alpha` written as the DataOS 2.0 docs do: `spec:` instead of `depot:`."""

    version: Literal["v2alpha"]
    type: Literal["depot"]
    spec: DepotSpecTenant
