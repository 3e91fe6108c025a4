"""Presentation helpers of the web pages: JSON Schemas as readable rows, commands to fetch and verify a version."""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

MAX_ROWS = 400
MAX_DEPTH = 8
_CONSTRAINTS = ("enum", "const", "default", "format", "pattern", "minimum", "exclusiveMinimum", "maximum",
                "exclusiveMaximum", "minLength", "maxLength", "minItems", "maxItems", "multipleOf", "uniqueItems")


@dataclass(frozen=True)
class SchemaRow:
    path: str
    depth: int
    type: str
    required: bool
    description: str
    constraints: str


def _type_of(schema: dict) -> str:
    t = schema.get("type")
    if isinstance(t, list):
        text = " or ".join(str(x) for x in t)
    elif t:
        text = str(t)
    elif "$ref" in schema:
        text = "see " + str(schema["$ref"])
    else:
        text = next((k for k in ("oneOf", "anyOf", "allOf", "enum", "const") if k in schema), "any")
    if text == "array" and isinstance(schema.get("items"), dict) and schema["items"].get("type"):
        text = f"array of {_type_of(schema['items'])}"
    return text


def _constraints(schema: dict) -> str:
    parts = []
    for key in _CONSTRAINTS:
        if key in schema:
            value = schema[key]
            shown = ", ".join(json.dumps(v) for v in value) if key == "enum" and isinstance(value, list) \
                else json.dumps(value)
            parts.append(f"{key}: {shown}")
    if schema.get("additionalProperties") is False:
        parts.append("no other properties")
    return "; ".join(parts)


def schema_rows(schema: Any) -> list[SchemaRow]:
    """One row per property, nested properties (objects, arrays of objects) indented under their parent."""
    rows: list[SchemaRow] = []

    def walk(node: Any, prefix: str, depth: int) -> None:
        if not isinstance(node, dict) or depth > MAX_DEPTH:
            return
        target = node
        if target.get("type") == "array" and isinstance(target.get("items"), dict):
            target = target["items"]
            prefix = prefix + "[]" if prefix else prefix
        props = target.get("properties")
        if not isinstance(props, dict):
            return
        required = set(target.get("required") or []) if isinstance(target.get("required"), list) else set()
        for name, sub in props.items():
            if len(rows) >= MAX_ROWS:
                return
            sub = sub if isinstance(sub, dict) else {}
            path = f"{prefix}.{name}" if prefix else name
            rows.append(SchemaRow(path=path, depth=depth, type=_type_of(sub), required=name in required,
                                  description=str(sub.get("description", "")), constraints=_constraints(sub)))
            walk(sub, path, depth + 1)

    walk(schema, "", 0)
    return rows


def schema_summary(schema: Any) -> str:
    """What a schema with no properties accepts, in words (shown when there are no rows)."""
    if schema is True or schema == {}:
        return "Any value."
    if isinstance(schema, dict):
        return f"A value of type {_type_of(schema)}" + (f" ({c})" if (c := _constraints(schema)) else "") + "."
    return "No value is valid." if schema is False else "See the JSON Schema below."


def pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False)


def version_commands(*, name: str, version: str, base_url: str) -> list[dict]:
    """The commands that fetch and verify this exact version (CLI, MCP tool calls, plain HTTP)."""
    n, v = shlex.quote(name), shlex.quote(version)
    mcp_args = json.dumps({"name": name, "version": version})
    return [
        {"label": "Fetch with the CLI", "text": f"action-registry fetch {n} {v}"},
        {"label": "Verify with the CLI", "text": f"action-registry verify {n} {v}"},
        {"label": "Fetch over MCP (tool call)", "text": f"action_registry_fetch {mcp_args}"},
        {"label": "Verify over MCP (tool call)", "text": f"action_registry_verify {mcp_args}"},
        {"label": "Fetch over HTTP",
         "text": f"curl -s {shlex.quote(f'{base_url}/v1/actions/{name}/versions/{version}')}"},
    ]


def change_rows(changes) -> list[dict]:
    """A diff's changes with their before/after values as compact JSON (None when absent)."""
    def shown(value: Any) -> str | None:
        return None if value is None else json.dumps(value, ensure_ascii=False)

    return [{"breaking": c.breaking, "where": f"{c.schema}{c.pointer or '/'}", "kind": c.kind.replace("_", " "),
             "before": shown(c.before), "after": shown(c.after), "reason": c.reason} for c in changes]
