"""The tree reads as the workflow: no module imports a module of a later stage, and no two
top-level units import each other (no cycles), counting imports inside functions too.

The order below is the one-way data flow of DESIGN.md. ``audit`` sits above ``hygiene`` because
its duplicate and leakage checks (SW4xx) run hygiene's MinHash; ``gemini`` sits below ``audit``
because the SW6xx checks read its limits table.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "sftwise"

# lowest first; a unit may import units of its own layer index or lower
LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("io", "findings", "codes"),
    ("conversation", "tokens", "runlog", "progress", "textsim", "gguf_cache"),
    ("demo",),
    ("models",),
    ("formats",),
    ("gemini",),
    ("hygiene",),
    ("audit",),
    ("recommend",),
    ("backends",),
    ("train",),
    ("diagnose",),
    ("evaluate",),
    ("judge",),
    ("report",),
    ("pipeline",),
    ("cli",),
    ("__init__", "__main__", "api"),
]
RANK = {unit: i for i, layer in enumerate(LAYERS) for unit in layer}


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "sftwise":
        return None
    return parts[1] if len(parts) > 1 else "__init__"


def _imports() -> dict[str, set[tuple[str, int, str]]]:
    """unit -> {(imported unit, line, file)} for every sftwise import in the unit's files."""
    found: dict[str, set[tuple[str, int, str]]] = {}
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        unit = rel.parts[0].removesuffix(".py") if len(rel.parts) > 1 or rel.name != "__init__.py" else "__init__"
        package = ["sftwise", *rel.parts[:-1]]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1]
                    targets = [".".join(base + ([node.module] if node.module else []))]
                else:
                    targets = [node.module or ""]
                if targets[0] == "sftwise":  # from sftwise import x: x is a unit
                    targets = [f"sftwise.{a.name}" for a in node.names]
            for target in targets:
                other = _unit(target)
                if other and other != unit:
                    found.setdefault(unit, set()).add((other, node.lineno, str(rel)))
    return found


def test_every_unit_has_a_layer():
    units = {p.name.removesuffix(".py") for p in SRC.iterdir() if (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists()))}
    missing = sorted(units - set(RANK))
    assert not missing, f"add these units to LAYERS in {__file__}: {missing}"


def test_no_import_flows_backwards():
    backwards = [
        f"{file}:{line} ({unit}) imports {other}"
        for unit, edges in _imports().items()
        for other, line, file in edges
        if RANK.get(other, -1) > RANK.get(unit, len(LAYERS))
    ]
    assert not backwards, "imports that flow against the workflow:\n" + "\n".join(sorted(backwards))


def test_no_cycles_between_units():
    graph = {unit: {o for o, _, _ in edges} for unit, edges in _imports().items()}
    cycles = sorted(f"{a} <-> {b}" for a, outs in graph.items() for b in outs if a < b and a in graph.get(b, set()))
    assert not cycles, f"units that import each other: {cycles}"


@pytest.mark.parametrize("module", ["sftwise", "sftwise.audit", "sftwise.formats", "sftwise.hygiene", "sftwise.cli"])
def test_data_side_imports_no_torch(module):
    import subprocess
    import sys

    code = f"import sys, {module}; print('torch' in sys.modules, 'transformers' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out == ["False", "False"], f"importing {module} pulled in torch/transformers"
