"""The package's import graph: no circle among its modules, and transfers below the client.

Only imports that run when a module loads count (not those inside functions, which the
start-up work made lazy on purpose, nor ``if TYPE_CHECKING:`` blocks). A circle there makes
the import order matter and half-initialised modules possible; ``transfer/`` importing
``_client`` was the circle the floor redesign removed (transfers get a ``TransferContext``).
"""
from __future__ import annotations

import ast
from pathlib import Path

import s3fast

ROOT = Path(s3fast.__file__).parent


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in ROOT.rglob("*.py") if "__pycache__" not in p.parts}


def _load_time_imports(name: str) -> set[str]:
    """The s3fast modules ``name`` imports when it loads."""
    path = MODULES[name]
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If):
                test = node.test
                if getattr(test, "id", None) == "TYPE_CHECKING" or getattr(test, "attr", None) == "TYPE_CHECKING":
                    visit(node.orelse)
                else:
                    visit(node.body)
                    visit(node.orelse)
            elif isinstance(node, ast.Try):
                for block in (node.body, *(h.body for h in node.handlers), node.orelse, node.finalbody):
                    visit(block)
            elif isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = package[:len(package) - node.level + 1] if node.level else []
                module = ".".join([*base, *([node.module] if node.module else [])])
                for alias in node.names:
                    sub = f"{module}.{alias.name}"
                    found.add(sub if sub in MODULES else module)

    visit(ast.parse(path.read_text()).body)
    return {m for m in found if m in MODULES and m != name}


GRAPH = {name: _load_time_imports(name) for name in MODULES}


def test_no_module_imports_its_way_back_to_itself() -> None:
    circles: list[list[str]] = []

    def walk(node: str, trail: list[str], done: set[str]) -> None:
        for nxt in sorted(GRAPH[node]):
            if nxt in trail:
                circles.append(trail[trail.index(nxt):] + [nxt])
            elif nxt not in done:
                walk(nxt, [*trail, nxt], done)
        done.add(node)

    finished: set[str] = set()
    for start in sorted(GRAPH):
        if start not in finished:
            walk(start, [start], finished)
    assert not circles, "import circles: " + "; ".join(" -> ".join(c) for c in circles[:5])


def test_transfers_never_import_the_client() -> None:
    below = [name for name in MODULES if name.startswith("s3fast.transfer")]
    assert below
    offenders = {name: GRAPH[name] & {"s3fast._client"} for name in below}
    assert not any(offenders.values()), offenders


def test_the_graph_sees_real_imports() -> None:
    # The checks above mean nothing if the parse found no edges.
    assert "s3fast.transfer._context" in GRAPH["s3fast._client"] or any(
        m.startswith("s3fast.transfer") for m in GRAPH["s3fast._client"])
    assert "s3fast.net._watch" in GRAPH["s3fast.net._connection"]
