"""The `instance-secret` kind (v1): credentials a depot references, encrypted at rest."""

from __future__ import annotations

from typing import Any, ClassVar, Literal, Self

from pydantic import Field, field_validator, model_validator

from entrepot.resources.base import DataKey, ResourceMeta, Strict, Text

SecretType = Literal["key-value", "key-value-properties", "certificates", "cloud-kernel"]
SECRET_TYPES: tuple[str, ...] = SecretType.__args__  # type: ignore[attr-defined]


def normalise_secret_type(value: Any) -> Any:
    """Case-insensitive; the docs also write `certificate` (singular)."""
    if isinstance(value, str):
        value = value.strip().lower()
        if value == "certificate":
            return "certificates"
    return value


class SecretPayloadMixin(Strict):
    """`data` (inline values) and `files` (read at apply time, relative to the manifest)."""

    data: dict[DataKey, Text] | None = Field(None, description="Key-value pairs (values hidden).")
    files: dict[DataKey, str] | None = Field(
        None, description="Key to file path; the file's content is read and stored encrypted."
    )


class _SecretSpec(SecretPayloadMixin):
    """What an instance secret and a DataOS 2.0 secret share: the type, the acl's spelling, and
    at least one value."""

    called: ClassVar[str] = "an instance secret"  # in the "needs data or files" message
    type: SecretType = Field(description="How the values are passed to consumers.")

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return normalise_secret_type(value)

    @field_validator("acl", mode="before", check_fields=False)
    @classmethod
    def _acl(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.data and not self.files:
            raise ValueError(f"{self.called} needs 'data' or 'files' (or both)")
        return self


class InstanceSecretSpec(_SecretSpec):
    acl: Literal["r", "rw"] = Field(description="r: read-only use; rw: read-write use.")


class InstanceSecretV1(ResourceMeta):
    """`type: instance-secret`, `version: v1`."""

    version: Literal["v1"]
    type: Literal["instance-secret"]
    instance_secret: InstanceSecretSpec = Field(alias="instance-secret")


class SecretV2Spec(_SecretSpec):
    """`secret:` of a DataOS 2.0 `type: secret`: no acl there, since a depot says which
    secret serves which purpose (`spec.secrets[].purpose`). `acl` is accepted for a secret a
    v2alpha depot (`depot.secrets[].name`) references, which takes its acl from the secret."""

    called: ClassVar[str] = "a secret"
    acl: Literal["r", "rw"] | None = Field(
        None,
        description="Only for v2alpha depots referencing it by name; a DataOS 2.0 depot's "
        "purpose (scan, query: r; rw: rw) decides otherwise.",
    )


class SecretV2Alpha(ResourceMeta):
    """`type: secret`, `version: v2alpha` (the DataOS 2.0 docs): stored as an instance secret."""

    version: Literal["v2alpha"]
    type: Literal["secret"]
    secret: SecretV2Spec
