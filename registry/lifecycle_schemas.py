"""django-ninja input and output schemas of the lifecycle API: deprecation, diff, compatibility graph."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from ninja import Field, Schema

EXAMPLE_REASON = "Superseded by 2.0.0, which validates host names."
EXAMPLE_AT = "2026-01-15T09:30:00Z"


class DeprecationOut(Schema):
    reason: str = Field(..., description="Why the version is deprecated.", examples=[EXAMPLE_REASON])
    successor: str | None = Field(None, description="The version callers should move to, if one was named.",
                                  examples=["2.0.0"])
    at: datetime = Field(..., description="When the version was deprecated (UTC).", examples=[EXAMPLE_AT])


class DeprecateIn(Schema):
    reason: str = Field(..., min_length=1, max_length=2000, description="Why callers should stop using it.",
                        examples=[EXAMPLE_REASON])
    successor: str | None = Field(None, max_length=128,
                                  description="A published, non-deprecated version of the same action that "
                                              "callers should use instead.", examples=["2.0.0"])

    model_config = {"json_schema_extra": {"examples": [{"reason": EXAMPLE_REASON, "successor": "2.0.0"}]}}


class UndeprecateIn(Schema):
    reason: str = Field(..., min_length=1, max_length=2000, description="Why the deprecation is lifted.",
                        examples=["2.0.0 was rolled back; 1.0.0 is supported again."])

    model_config = {"json_schema_extra": {"examples": [
        {"reason": "2.0.0 was rolled back; 1.0.0 is supported again."}]}}


class DeprecationEntryOut(Schema):
    action: Literal["deprecated", "undeprecated"] = Field(..., description="What happened.",
                                                          examples=["deprecated"])
    reason: str = Field(..., description="Why, as given.", examples=[EXAMPLE_REASON])
    successor: str | None = Field(None, description="The successor named (deprecations only).", examples=["2.0.0"])
    actor: str = Field(..., description="Who: `api_key:<name>` or `user:<username>`.",
                       examples=["api_key:infra-publisher"])
    at: datetime = Field(..., description="When (UTC).", examples=[EXAMPLE_AT])


class DeprecationStateOut(Schema):
    name: str = Field(..., description="Dotted action name.", examples=["ssh.exec"])
    version: str = Field(..., description="SemVer version.", examples=["1.0.0"])
    deprecated: bool = Field(..., description="Whether the version is deprecated now.", examples=[True])
    deprecation: DeprecationOut | None = Field(..., description="The current deprecation, or null.")
    history: list[DeprecationEntryOut] = Field(..., description="Every deprecate and undeprecate, oldest first.")


class ChangeOut(Schema):
    kind: str = Field(..., description="What changed: property_added, property_removed, property_made_required, "
                                       "property_made_optional, type_widened, type_narrowed, type_changed, "
                                       "enum_value_added, enum_value_removed, enum_added, enum_removed, "
                                       "const_added, const_removed, const_changed, constraint_added, "
                                       "constraint_removed, constraint_tightened, constraint_relaxed, "
                                       "constraint_changed, additional_properties_changed, items_added, "
                                       "items_removed, prefix_item_added, prefix_item_removed, variant_added, "
                                       "variant_removed, composition_added, composition_removed, "
                                       "pattern_property_added, pattern_property_removed, ref_changed, "
                                       "schema_replaced, default_changed, keyword_added, keyword_removed, "
                                       "keyword_changed.", examples=["property_added"])
    pointer: str = Field(..., description="JSON Pointer into the schema where it happens ($refs followed from "
                                          "where they are used).", examples=["/properties/timeout"])
    schema_: Literal["input", "output"] = Field(..., alias="schema", description="Which schema.",
                                                examples=["input"])
    before: Any = Field(None, description="The value before (null when added).")
    after: Any = Field(None, description="The value after (null when removed).", examples=[{"type": "integer"}])
    classification: Literal["breaking", "non_breaking"] = Field(
        ..., description="For a caller: an input change is breaking if a call that was valid may now be "
                         "refused; an output change is breaking if consumers may get something they did not "
                         "expect or lose something they relied on.", examples=["breaking"])
    reason: str = Field(..., description="Why it is classified so, for people.",
                        examples=["required input 'timeout' was added: callers that do not send it are refused"])


class ChangeCountsOut(Schema):
    total: int = Field(..., description="All changes.", examples=[2])
    breaking: int = Field(..., description="Breaking changes.", examples=[1])
    non_breaking: int = Field(..., description="Non-breaking changes.", examples=[1])


class DiffSummaryOut(Schema):
    breaking: bool = Field(..., description="Whether any change is breaking.", examples=[True])
    changes: ChangeCountsOut = Field(..., description="Counts of changes.")
    implied_bump: Literal["major", "minor", "patch"] = Field(
        ..., description="The SemVer bump the changes imply: major for any breaking change, minor for other "
                         "contract changes, patch otherwise.", examples=["major"])


class ModeVerdictOut(Schema):
    backward: bool = Field(..., description="Callers of `from` can use `to` unchanged.", examples=[False])
    forward: bool = Field(..., description="Callers of `to` can fall back to `from`.", examples=[True])
    full: bool = Field(..., description="Both.", examples=[False])


class DiffOut(Schema):
    name: str = Field(..., description="Dotted action name.", examples=["ssh.exec"])
    from_: str = Field(..., alias="from", description="The older version compared.", examples=["1.0.0"])
    to: str = Field(..., description="The newer version compared.", examples=["2.0.0"])
    summary: DiffSummaryOut = Field(..., description="The verdict.")
    compatibility: ModeVerdictOut = Field(..., description="The verdict in the schema-registry modes.")
    changes: list[ChangeOut] = Field(..., description="Every change, input_schema first.")


class DiffParams(Schema):
    from_: str = Field(..., alias="from", max_length=128, description="The version to compare from (older).",
                       examples=["1.0.0"])
    to: str = Field(..., max_length=128, description="The version to compare to (newer).", examples=["2.0.0"])


class GraphParams(Schema):
    format: Literal["json", "svg"] = Field("json", description="`svg` answers with an SVG picture of the graph "
                                                               "(image/svg+xml) instead of JSON.",
                                           examples=["svg"])


class DeclaredOut(Schema):
    compatible_with: list[str] = Field(..., description="Versions and ranges the signer declared compatible.",
                                       examples=[["1.1.0"]])
    breaks: list[str] = Field(..., description="Versions and ranges the signer declared broken.",
                              examples=[["1.x"]])


class GraphNodeOut(Schema):
    version: str = Field(..., description="SemVer version.", examples=["1.0.0"])
    status: Literal["latest", "active", "prerelease", "deprecated"] = Field(
        ..., description="latest release, active, prerelease, or deprecated.", examples=["deprecated"])
    latest: bool = Field(..., description="Whether it is the latest release.", examples=[False])
    major: int = Field(..., description="The major version (the SVG's column).", examples=[1])
    prerelease: str | None = Field(None, description="The prerelease tag, if any.", examples=["rc.1"])
    content_hash: str = Field(..., description="Content hash of the version's canonical bytes.")
    published_at: datetime = Field(..., description="When it was published (UTC).")
    deprecated: bool = Field(..., description="Whether it is deprecated.", examples=[True])
    deprecation: DeprecationOut | None = Field(None, description="The deprecation, if deprecated.")
    declared: DeclaredOut = Field(..., description="The compatibility declaration in its signed document.")


class GraphEdgeOut(Schema):
    from_: str = Field(..., alias="from", description="The earlier version the edge speaks about.",
                       examples=["1.0.0"])
    to: str = Field(..., description="The version that declares, or is compared.", examples=["2.0.0"])
    relation: Literal["compatible", "breaks"] = Field(..., description="`to` is compatible with, or breaks, "
                                                                       "`from`.", examples=["breaks"])
    source: Literal["declared", "detected"] = Field(
        ..., description="declared: in the signed document of `to`; detected: by diffing the schemas under the "
                         "namespace's compatibility mode.", examples=["detected"])
    range: str | None = Field(None, description="The declared version or range that matched `from` "
                                                "(declared edges).", examples=["1.x"])
    agrees: bool | None = Field(None, description="Whether detection agrees with the declaration "
                                                  "(declared edges).", examples=[True])
    breaking_changes: int | None = Field(None, description="Breaking changes found (detected edges).",
                                         examples=[2])
    implied_bump: Literal["major", "minor", "patch"] | None = Field(
        None, description="The SemVer bump the diff implies (detected edges).", examples=["major"])


class CompatibilityGraphOut(Schema):
    name: str = Field(..., description="Dotted action name.", examples=["ssh.exec"])
    mode: str = Field(..., description="The namespace's compatibility mode.", examples=["backward"])
    policy_prefix: str | None = Field(None, description="The policy prefix that set the mode (null: default).",
                                      examples=["ssh"])
    latest_version: str | None = Field(None, description="The latest release.", examples=["2.0.0"])
    nodes: list[GraphNodeOut] = Field(..., description="Every version, SemVer ascending.")
    edges: list[GraphEdgeOut] = Field(..., description="Declared and detected edges, oldest `from` first.")
