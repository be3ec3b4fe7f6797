"""The package layering docs/ARCHITECTURE.md promises, read from the source: every
import (function-level ones included; type-only ones under TYPE_CHECKING aside)
goes down the table, so there are no cycles; config/ is a leaf."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "safetyd"
# Bottom up, as in docs/ARCHITECTURE.md ("safetyd" is the package's own __init__: its
# version).
ORDER = [
    "safetyd", "safetyd.abc", "safetyd.base", "safetyd.config", "safetyd.zones",
    "safetyd.vision", "safetyd.extensions", "safetyd.assembly", "safetyd.drawing", "safetyd.hazard",
    "safetyd.pipeline", "safetyd.storage", "safetyd.plant", "safetyd.mqtt",
    "safetyd.alerts", "safetyd.analytics", "safetyd.console", "safetyd.service", "safetyd.cli",
    "safetyd.__main__",
]  # fmt: skip


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        name = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        out[name.removesuffix(".__init__")] = path
    return out


def _type_only(tree: ast.Module) -> set[int]:
    return {
        id(node)
        for block in ast.walk(tree)
        if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.dump(block.test)
        for node in ast.walk(block)
    }


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    tree = ast.parse(path.read_text())
    skip = _type_only(tree)
    here = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.ImportFrom):
            if node.level:
                parts = here.split(".")[: len(here.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                sub = f"{base}.{alias.name}"
                out.add(sub if sub in modules else base)
        elif isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
    return {m for m in out if m in modules and m != name}


def _layer(module: str) -> str:
    parts = module.split(".")
    return ".".join(parts[:2])


@pytest.fixture(scope="module")
def edges() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def test_every_module_belongs_to_a_layer_of_the_architecture(edges) -> None:
    unplaced = sorted({_layer(m) for m in edges} - set(ORDER) - {"safetyd.models"})
    assert not unplaced, f"add these to docs/ARCHITECTURE.md and ORDER here: {unplaced}"


def test_imports_only_go_down_the_layers(edges) -> None:
    upward = sorted(
        f"{m} imports {t}"
        for m, targets in edges.items()
        for t in targets
        if _layer(m) != _layer(t) and ORDER.index(_layer(t)) > ORDER.index(_layer(m))
    )
    assert not upward, "\n".join(upward)


def test_no_module_imports_itself_round_a_cycle(edges) -> None:
    seen: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(m: str, path: list[str]) -> list[str] | None:
        seen[m] = 1
        for t in sorted(edges[m]):
            if seen.get(t) == 1:
                return path + [m, t]
            if t not in seen and (cycle := visit(t, path + [m])):
                return cycle
        seen[m] = 2
        return None

    for m in sorted(edges):
        if m not in seen and (cycle := visit(m, [])):
            pytest.fail(" -> ".join(cycle))


def test_the_configuration_schema_is_a_leaf(edges) -> None:
    reach = {t for m, ts in edges.items() if _layer(m) == "safetyd.config" for t in ts}
    assert {_layer(t) for t in reach} <= {"safetyd.config", "safetyd.base"}
    assert {t for t in reach if _layer(t) == "safetyd.base"} <= {"safetyd.base.problems"}


def test_no_class_over_300_lines_and_no_module_over_500() -> None:
    """Issue 27's limits, so that the next feature splits a concept off instead of
    growing the daemon's core (generated files and tests excepted; there are none of
    the former in the package)."""
    too_big = []
    for path in sorted(PACKAGE.rglob("*.py")):
        text = path.read_text()
        name = path.relative_to(PACKAGE.parent)
        if text.count("\n") > 500:
            too_big.append(f"{name}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                lines = node.end_lineno - node.lineno + 1
                if lines > 300:
                    too_big.append(f"{name}: class {node.name}, {lines} lines")
    assert not too_big, "\n".join(too_big)
