"""Fuzzing the zone-file and configuration loaders: no file content may raise.

Seeded and bounded: mutations of the bundled zone files (values replaced by
junk of every JSON kind, huge and deep ones included; members deleted or
duplicated; bytes truncated, flipped or inserted). Each mutant goes through the
zone parser, and every tenth through the whole configuration load. Whatever
the file holds, the answer is a list of problems (or zones), never an
exception: a reload must keep the running zones, and ``check-config`` must
explain rather than print a traceback. An attack with 2,100 mutations found
48 uncaught exceptions before this.
"""

from __future__ import annotations

import copy
import json
import random
from pathlib import Path

import pytest
from conftest import BASE_TOML, ROOT

from safetyd.assembly import load as cfg
from safetyd.base.problems import InvalidConfig
from safetyd.zones.geojson import ParsedFile, parse_zone_file
from safetyd.zones.model import ZoneContext

SEEDS = range(4)
MUTANTS_PER_SEED = 550  # 2,200 in all, a few seconds
SOURCES = sorted((ROOT / "zones").glob("*.geojson"))

JUNK = [
    None, True, False, 0, -1, 1.5, -1e308, 1e308, 10**400, -(10**30), float("nan"),
    float("inf"), "", "x" * 2000, "🦺", [], {}, [[]], [None], {"type": None},
    {"type": "Polygon"}, {"type": "Polygon", "coordinates": None},
    {"type": "MultiPolygon", "coordinates": [[[]]]}, [0] * 5000,
]  # fmt: skip


def _deep(depth: int) -> list:
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


def _nodes(tree, path=()):
    """Every (path, value) in a JSON tree."""
    yield path, tree
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _nodes(v, (*path, k))
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from _nodes(v, (*path, i))


def _set(tree, path, value):
    if not path:
        return value
    parent = tree
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = value
    return tree


def _junk(rng: random.Random):
    roll = rng.random()
    if roll < 0.05:
        return _deep(rng.choice([50, 300]))  # deeper than this, the file is refused whole
    return copy.deepcopy(rng.choice(JUNK))


def mutate_tree(tree, rng: random.Random):
    tree = copy.deepcopy(tree)
    for _ in range(rng.randint(1, 3)):
        nodes = list(_nodes(tree))
        path, value = rng.choice(nodes)
        op = rng.random()
        if op < 0.6 or not path:
            tree = _set(tree, path, _junk(rng))
        elif op < 0.8:
            parent = tree
            for key in path[:-1]:
                parent = parent[key]
            del parent[path[-1]]
        else:
            parent = tree
            for key in path[:-1]:
                parent = parent[key]
            if isinstance(parent, list):
                parent.insert(path[-1], copy.deepcopy(value))
            else:
                parent[f"{path[-1]}_copy"] = copy.deepcopy(value)
    return tree


def mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    op = rng.random()
    at = rng.randrange(len(data))
    if op < 0.3:
        return data[:at]
    if op < 0.6:
        return data[:at] + bytes([rng.randrange(256)]) + data[at + 1 :]
    if op < 0.8:
        return data[:at] + rng.choice([b"[", b"{", b"\x00", b"\xff", b'"', b"9" * 500]) + data[at:]
    return data[:at] + b"[" * 6000 + data[at:]


def mutants(seed: int):
    rng = random.Random(seed)
    trees = [(p, json.loads(p.read_text())) for p in SOURCES]
    for _ in range(MUTANTS_PER_SEED):
        _, tree = rng.choice(trees)
        if rng.random() < 0.7:
            text = json.dumps(mutate_tree(tree, rng), allow_nan=True)
            yield text.encode()
        else:
            yield mutate_bytes(json.dumps(tree).encode(), rng)


def load_explained(config: Path, which: str, content: bytes | str) -> None:
    """Load the configuration: it loads, or InvalidConfig explains each problem."""
    try:
        cfg.load(config)
    except InvalidConfig as exc:
        assert "please report" not in str(exc), (which, str(exc)[:500])
    except BaseException as exc:  # noqa: BLE001 - any escape is the failure
        pytest.fail(f"{which}: the configuration load raised {exc!r}; {content[:300]!r}")


@pytest.mark.parametrize("seed", SEEDS)
def test_no_zone_file_content_raises(tmp_path: Path, seed: int) -> None:
    config = tmp_path / "safetyd.toml"
    zones = tmp_path / "zones.geojson"
    config.write_text(BASE_TOML)
    context = ZoneContext()
    outcomes = {"zones": 0, "refused": 0}
    for n, data in enumerate(mutants(seed)):
        zones.write_bytes(data)
        try:
            parsed = parse_zone_file(zones, context)
        except BaseException as exc:  # noqa: BLE001 - any escape is the failure
            pytest.fail(f"seed {seed} mutant {n} raised {exc!r}; content: {data[:300]!r}")
        assert isinstance(parsed, ParsedFile)
        if parsed.zones:  # zones only from a file without errors
            assert not any(p.severity == "error" for p in parsed.problems)
        # The catch-all keeps the daemon alive; each problem still has its own words.
        unforeseen = [p.message for p in parsed.problems if "please report" in p.message]
        assert not unforeseen, (seed, n, unforeseen, data[:300])
        outcomes["zones" if parsed.zones else "refused"] += 1
        if n % 10 == 0:
            load_explained(config, f"seed {seed} mutant {n}", data)
    # The mutations reach both sides: some still load, most are refused.
    assert outcomes["zones"] > 0 and outcomes["refused"] > MUTANTS_PER_SEED // 2, outcomes


TOML_JUNK = [
    "", "-1", "0", "1e999", "nan", "inf", "9" * 400, '"x"', "[]", "{}", "true",
    '"' + "x" * 5000 + '"', "[[[[[[[[]]]]]]]]", '"\\u0000"', "1979-05-27T07:32:00Z",
]  # fmt: skip


def toml_mutants(seed: int, count: int):
    rng = random.Random(seed)
    lines = (ROOT / "systemd" / "safetyd.toml").read_text().splitlines()
    for _ in range(count):
        mutant = list(lines)
        for _ in range(rng.randint(1, 3)):
            i = rng.randrange(len(mutant))
            key, eq, _value = mutant[i].partition("=")
            op = rng.random()
            if eq and op < 0.7:
                mutant[i] = f"{key}= {rng.choice(TOML_JUNK)}"
            elif op < 0.85:
                del mutant[i]
            else:
                mutant.insert(i, rng.choice(mutant))
        yield "\n".join(mutant)


@pytest.mark.parametrize("seed", SEEDS)
def test_no_configuration_content_raises(tmp_path: Path, seed: int) -> None:
    """The same for safetyd.toml: values replaced by junk, lines deleted or repeated."""
    config = tmp_path / "safetyd.toml"
    for n, text in enumerate(toml_mutants(seed, 150)):
        config.write_text(text.replace('"../zones/', f'"{ROOT}/zones/'))
        load_explained(config, f"seed {seed} mutant {n}", text)
