#!/usr/bin/env python3
"""Validates leakhound JSON reports (leakhound.report/v1) against docs/report.schema.json.

    validate_report.py FILE...                  each FILE must be a valid report
    validate_report.py --check-schema           the schema must be a valid 2020-12 schema
    validate_report.py --expect-invalid FILE... each FILE must FAIL validation

Errors are printed as "FILE: $.json.path: message"; the exit status is 1 when
anything failed. --expect-invalid is for the deliberately broken samples in
tests/schema/invalid/: each is a report with one deliberate defect and an
"_expect_error" field {"path": "$.heap[0].verdict", "message": "is not one of"}
(unknown fields are allowed, so it does not itself invalidate the report); a
file passes when the schema rejects it with an error at that path whose message
contains that text.

validate(doc) returns the errors as strings (tests/bpf/lhtest.py uses it).
Needs the jsonschema package (scripts/setup.sh installs it).
"""
import argparse
import json
import os
import re
import sys

try:
    import jsonschema
except ImportError as e:  # a clear message rather than a bare traceback
    raise ImportError(
        f"{e}: the Python package jsonschema is needed to validate leakhound reports "
        "(scripts/setup.sh installs it; or: python3 -m pip install jsonschema, "
        "or apt-get install python3-jsonschema)") from e

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCHEMA_PATH = os.path.join(ROOT, "docs", "report.schema.json")

_schema = None


def load_schema():
    with open(SCHEMA_PATH) as f:
        return json.load(f)


def _json_path(path):
    """$.heap[0].stack[2].line from a deque of keys and indices."""
    out = "$"
    for p in path:
        if isinstance(p, int):
            out += f"[{p}]"
        elif re.fullmatch(r"[A-Za-z_$][A-Za-z0-9_$]*", p):
            out += f".{p}"
        else:
            out += f"[{json.dumps(p)}]"
    return out


def _get_validator():
    # The schema is read and checked once; a validator per call, as older
    # jsonschema versions keep resolver state in it and lhtest validates from
    # several threads.
    global _schema
    if _schema is None:
        schema = load_schema()
        jsonschema.Draft202012Validator.check_schema(schema)
        _schema = schema
    return jsonschema.Draft202012Validator(_schema)


def errors_of(doc):
    """(json path, message) of every schema error in doc, in document order."""
    errs = sorted(_get_validator().iter_errors(doc),
                  key=lambda e: [(0, p, "") if isinstance(p, int) else (1, 0, p)
                                 for p in e.absolute_path])
    return [(_json_path(e.absolute_path), e.message) for e in errs]


def validate(doc):
    """The schema errors of a parsed report as "$.path: message" strings ([] if valid)."""
    return [f"{path}: {msg}" for path, msg in errors_of(doc)]


def check_schema():
    """Errors of the schema itself: a valid 2020-12 schema that never forbids
    unknown fields (the contract lets fields be added)."""
    try:
        schema = load_schema()
    except (OSError, json.JSONDecodeError) as e:
        return [f"cannot read {SCHEMA_PATH}: {e}"]
    problems = []
    if schema.get("$schema") != "https://json-schema.org/draft/2020-12/schema":
        problems.append(f"$schema is {schema.get('$schema')!r}, not draft 2020-12")
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as e:
        problems.append(f"{_json_path(e.absolute_path)}: {e.message}")

    def walk(node, path):
        if isinstance(node, dict):
            for k in ("additionalProperties", "unevaluatedProperties"):
                if node.get(k) is False:
                    problems.append(f"{path}.{k} is false: unknown fields must stay allowed")
            for k, v in node.items():
                walk(v, f"{path}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{path}[{i}]")

    walk(schema, "$")
    return problems


def _load(path):
    try:
        with open(path) as f:
            return json.load(f), None
    except (OSError, json.JSONDecodeError) as e:
        return None, f"{path}: cannot read JSON: {e}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="*", metavar="FILE", help="JSON reports to validate")
    ap.add_argument("--check-schema", action="store_true",
                    help="only check that the schema is a valid draft 2020-12 schema")
    ap.add_argument("--expect-invalid", action="store_true",
                    help="each FILE must fail validation (for the broken samples)")
    args = ap.parse_args(argv)

    if args.check_schema:
        if args.files or args.expect_invalid:
            ap.error("--check-schema takes no files")
        problems = check_schema()
        for p in problems:
            print(f"{SCHEMA_PATH}: {p}")
        if not problems:
            print(f"ok   {os.path.relpath(SCHEMA_PATH)}: valid draft 2020-12 schema")
        return 1 if problems else 0
    if not args.files:
        ap.error("no FILE given")
    if check_schema():
        print(f"{SCHEMA_PATH} is not a valid schema: run with --check-schema")
        return 1

    failed = 0
    for path in args.files:
        doc, err = _load(path)
        if err:
            print(err)
            failed += 1
            continue
        errs = errors_of(doc)
        if args.expect_invalid:
            for p, m in errs:
                print(f"     {path}: {p}: {m}")
            expect = doc.get("_expect_error") if isinstance(doc, dict) else None
            if not errs:
                print(f"FAIL {path}: expected schema errors, the schema accepts it")
                failed += 1
            elif not isinstance(expect, dict) or "path" not in expect:
                print(f'FAIL {path}: no "_expect_error": {{"path": ..., "message": ...}} '
                      "saying which error the sample is for")
                failed += 1
            elif not any(p == expect.get("path") and expect.get("message", "") in m
                         for p, m in errs):
                print(f"FAIL {path}: no error at {expect.get('path')} "
                      f"containing {expect.get('message', '')!r}")
                failed += 1
            else:
                print(f"ok   {path}: rejected ({len(errs)} error{'s' * (len(errs) != 1)})")
        elif errs:
            for p, m in errs:
                print(f"{path}: {p}: {m}")
            failed += 1
        else:
            print(f"ok   {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
