"""Only the client touches its own private parts: tree/ and cli/ go through public methods."""
from __future__ import annotations

import ast
from pathlib import Path

import s3fast

ROOT = Path(s3fast.__file__).parent


def test_nothing_outside_the_client_reads_its_private_attributes() -> None:
    # client._transport / client._ctx read from outside make the client's internals an API
    # nobody declared; Client.list_pages, delete_batch, list_buckets, copy and upload are it.
    for sub in ("tree", "cli", "transfer"):
        for path in (ROOT / sub).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Attribute):
                    assert node.attr not in ("_transport", "_ctx"), f"{path}:{node.lineno} reads .{node.attr}"
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "getattr":
                    args = node.args
                    assert not (len(args) > 1 and isinstance(args[1], ast.Constant)
                                and args[1].value in ("_transport", "_ctx")), f"{path}:{node.lineno}"


def test_transfer_never_imports_the_tree_layer_above_it() -> None:
    # tree/ builds on transfer/ (copies, uploads, downloads); an import the other way makes
    # a cycle waiting to happen and drags the tree engine into every single transfer.
    for path in (ROOT / "transfer").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = node.module or ""
                assert not (node.level >= 2 and module.split(".")[0] == "tree"), f"{path}:{node.lineno}"
                assert not module.startswith("s3fast.tree"), f"{path}:{node.lineno}"
