"""The `instance-secret` kind (v1): credentials a depot references, encrypted at rest."""

from __future__ import annotations

from typing import Any, Literal, Self

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


class InstanceSecretSpec(SecretPayloadMixin):
    type: SecretType = Field(description="How the values are passed to consumers.")
    acl: Literal["r", "rw"] = Field(description="r: read-only use; rw: read-write use.")

    @field_validator("type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> Any:
        return normalise_secret_type(value)

    @field_validator("acl", mode="before")
    @classmethod
    def _acl(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _not_empty(self) -> Self:
        if not self.data and not self.files:
            raise ValueError("an instance secret needs 'data' or 'files' (or both)")
        return self


class InstanceSecretV1(ResourceMeta):
    """`type: instance-secret`, `version: v1`."""

    version: Literal["v1"]
    type: Literal["instance-secret"]
    instance_secret: InstanceSecretSpec = Field(alias="instance-secret")
