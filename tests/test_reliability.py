"""docs/RELIABILITY.md is the fault table of tests/reliability.py, rendered, and every
test it names exists."""

from __future__ import annotations

import ast

from conftest import ROOT
from reliability import FAULTS, render

TESTS = ROOT / "tests"


def _test_functions(file: str) -> set[str]:
    tree = ast.parse((TESTS / file).read_text())
    return {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name.startswith("test")
    }


def test_the_document_is_the_table() -> None:
    doc = ROOT / "docs" / "RELIABILITY.md"
    assert doc.read_text() == render(), (
        "docs/RELIABILITY.md is out of date: .venv/bin/python tests/reliability.py > "
        "docs/RELIABILITY.md"
    )


def test_every_named_test_exists() -> None:
    missing = []
    for fault in FAULTS:
        assert fault.tests, fault.fault
        for ref in fault.tests:
            file, _, name = ref.partition("::")
            if not (TESTS / file).is_file() or name not in _test_functions(file):
                missing.append(ref)
    assert not missing, missing
