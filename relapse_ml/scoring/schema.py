"""The versioned JSON schema of ``relapse-ml score --json`` (``score_schema.json``).

`validate` checks a document against it with the `jsonschema` package when installed,
else with the small built-in checker below, which covers exactly the keywords the
schema uses (type, const, enum, properties, required, additionalProperties, items,
minItems, maxItems, minimum, maximum, exclusiveMinimum, $ref to ``#/$defs``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

SCHEMA_PATH = Path(__file__).with_name("score_schema.json")
_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
}


@lru_cache(maxsize=1)
def load_schema() -> dict:
    return json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))


def validate(doc, use_library: bool = True) -> list[str]:
    """Problems of ``doc`` against the schema (empty when valid), one line each."""
    schema = load_schema()
    if use_library:
        try:
            import jsonschema
        except ImportError:
            pass
        else:
            validator = jsonschema.Draft202012Validator(schema)
            return [
                f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
                for e in validator.iter_errors(doc)
            ]
    return list(_check(doc, schema, schema, "(root)"))


def _check(value, node: dict, root: dict, where: str):
    if "$ref" in node:
        ref = node["$ref"]
        if not ref.startswith("#/$defs/"):
            raise ValueError(f"unsupported $ref {ref}")
        yield from _check(value, root["$defs"][ref.split("/")[-1]], root, where)
        return
    if "const" in node and value != node["const"]:
        yield f"{where}: {value!r} is not {node['const']!r}"
    if "enum" in node and value not in node["enum"]:
        yield f"{where}: {value!r} is not one of {node['enum']}"
    if "type" in node:
        types = node["type"] if isinstance(node["type"], list) else [node["type"]]
        if not any(_TYPES[t](value) for t in types):
            yield f"{where}: {value!r} is not of type {' or '.join(types)}"
            return
    if isinstance(value, int | float) and not isinstance(value, bool):
        if "minimum" in node and value < node["minimum"]:
            yield f"{where}: {value} is less than the minimum {node['minimum']}"
        if "maximum" in node and value > node["maximum"]:
            yield f"{where}: {value} is greater than the maximum {node['maximum']}"
        if "exclusiveMinimum" in node and value <= node["exclusiveMinimum"]:
            yield f"{where}: {value} is not greater than {node['exclusiveMinimum']}"
    if isinstance(value, dict):
        props = node.get("properties", {})
        for key in node.get("required", []):
            if key not in value:
                yield f"{where}: '{key}' is a required property"
        extra = node.get("additionalProperties", True)
        for key, v in value.items():
            if key in props:
                yield from _check(v, props[key], root, f"{where}/{key}")
            elif extra is False:
                yield f"{where}: additional property '{key}' is not allowed"
            elif isinstance(extra, dict):
                yield from _check(v, extra, root, f"{where}/{key}")
    if isinstance(value, list):
        if "minItems" in node and len(value) < node["minItems"]:
            yield f"{where}: has fewer than {node['minItems']} items"
        if "maxItems" in node and len(value) > node["maxItems"]:
            yield f"{where}: has more than {node['maxItems']} items"
        if "items" in node:
            for i, v in enumerate(value):
                yield from _check(v, node["items"], root, f"{where}/{i}")
