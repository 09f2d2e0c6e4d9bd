#!/usr/bin/python3
"""Checks JSON log lines against the Elastic Common Schema field definitions (ecs_flat.yml).

Every key of every line must be an ECS field (flat, dotted name) and its JSON value must have the
type ECS gives that field. Usage:

    ecs_check.py [--spec ecs_flat.yml] LINES_FILE|-

The spec defaults to $OLYMPUS_SPECS_DIR/ecs/ecs_flat.yml (OLYMPUS_SPECS_DIR defaults to the
repository's tests/specs). Exit status: 0 when every line conforms, 1 when one does not, 2 on a usage
error or an unreadable spec. Runs with Debian's /usr/bin/python3 and python3-yaml.
"""

import argparse
import datetime
import ipaddress
import json
import os
import re
import sys

import yaml

STRING_TYPES = {"keyword", "text", "wildcard", "match_only_text", "constant_keyword"}
INTEGER_TYPES = {"long", "integer", "short", "byte", "unsigned_long"}
NUMBER_TYPES = {"float", "double", "scaled_float", "half_float"}

# RFC 3339 date-time (section 5.6), with an optional fraction and a Z or numeric offset.
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def load_spec(path):
    """Returns the ECS type of every field by flat name; an object field with an `object_type`
    (`labels`, `container.labels`) also admits keys "<object>.<key>" of that type."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with open(path, encoding="utf-8") as f:
        spec = yaml.load(f, Loader=loader)
    fields = {name: field["type"] for name, field in spec.items()}
    open_objects = {name: field["object_type"] for name, field in spec.items()
                    if field["type"] == "object" and field.get("object_type")}
    return fields, open_objects


def field_type(fields, open_objects, name):
    if name in fields and fields[name] != "object":
        return fields[name]
    parent, _, key = name.rpartition(".")
    if parent in open_objects and key:
        return open_objects[parent]
    return None


def check_value(name, ecs_type, value):
    """Returns an error message, or None when the value suits the ECS type."""
    if ecs_type in STRING_TYPES:
        ok = isinstance(value, str)
    elif ecs_type in INTEGER_TYPES:
        ok = isinstance(value, int) and not isinstance(value, bool)
        if ok and ecs_type != "unsigned_long" and not -(2**63) <= value < 2**63:
            return f"{name}: {value} does not fit an ECS {ecs_type}"
    elif ecs_type in NUMBER_TYPES:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    elif ecs_type == "boolean":
        ok = isinstance(value, bool)
    elif ecs_type == "date":
        if not isinstance(value, str) or not RFC3339.match(value):
            return f"{name}: {value!r} is not an RFC 3339 date-time"
        try:
            datetime.datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            return f"{name}: {value!r} is not a valid date-time"
        return None
    elif ecs_type == "ip":
        try:
            ipaddress.ip_address(value if isinstance(value, str) else "")
        except ValueError:
            return f"{name}: {value!r} is not an IP address"
        return None
    else:
        return f"{name}: ECS type {ecs_type} is not a scalar a log line may carry"
    if not ok:
        return f"{name}: {type(value).__name__} value {value!r} does not match ECS type {ecs_type}"
    return None


class DuplicateKey(ValueError):
    pass


def unique_object(pairs):
    # Elasticsearch rejects a document that repeats a key, so a line must not.
    doc = {}
    for key, value in pairs:
        if key in doc:
            raise DuplicateKey(f"duplicate key {key}")
        doc[key] = value
    return doc


def reject_constant(name):
    raise ValueError(f"{name} is not JSON")


def check_line(fields, open_objects, line_no, text):
    errors = []
    try:
        doc = json.loads(text, object_pairs_hook=unique_object, parse_constant=reject_constant)
    except ValueError as e:
        return [f"line {line_no}: not valid JSON for Elasticsearch: {e}"]
    if not isinstance(doc, dict):
        return [f"line {line_no}: not a JSON object"]
    for required in ("@timestamp", "log.level", "message"):
        if required not in doc:
            errors.append(f"line {line_no}: missing {required}")
    for name, value in doc.items():
        ecs_type = field_type(fields, open_objects, name)
        if ecs_type is None:
            errors.append(f"line {line_no}: {name} is not an ECS field")
            continue
        if isinstance(value, (dict, list)) or value is None:
            errors.append(f"line {line_no}: {name} is not a scalar")
            continue
        error = check_value(name, ecs_type, value)
        if error:
            errors.append(f"line {line_no}: {error}")
    return errors


def main():
    repo_specs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "specs")
    default_spec = os.path.join(os.environ.get("OLYMPUS_SPECS_DIR", repo_specs), "ecs", "ecs_flat.yml")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spec", default=default_spec)
    parser.add_argument("lines", help="file of JSON lines, or - for stdin")
    args = parser.parse_args()
    try:
        fields, open_objects = load_spec(args.spec)
    except (OSError, yaml.YAMLError) as e:
        print(f"ecs_check: cannot read {args.spec}: {e}", file=sys.stderr)
        return 2
    stream = sys.stdin if args.lines == "-" else open(args.lines, encoding="utf-8", errors="strict")
    errors = []
    checked = 0
    with stream:
        for line_no, text in enumerate(stream, 1):
            if not text.strip():
                continue
            checked += 1
            errors.extend(check_line(fields, open_objects, line_no, text))
    for error in errors:
        print(error, file=sys.stderr)
    if checked == 0:
        print("ecs_check: no lines to check", file=sys.stderr)
        return 1
    print(f"ecs_check: {checked} lines, {len(errors)} problems against {len(fields)} ECS fields")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
