"""The architecture as a test: imports point one way, and the protocol layer does no I/O (README, Architecture)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parent.parent / "raftzmq"

# layer -> raftzmq layers it may import
ALLOWED = {
    "protocol": {"protocol"},
    "evidence": {"evidence"},
    "runtime": {"runtime", "protocol", "evidence"},
    "lab": {"lab", "runtime", "protocol", "evidence"},
    "commands": {"commands", "lab", "runtime", "protocol", "evidence"},
}
# The sans-IO core never touches sockets, files, clocks, processes or threads.
IO_MODULES = {"os", "socket", "time", "zmq", "select", "selectors", "threading", "subprocess", "signal", "io",
              "pathlib", "asyncio", "multiprocessing", "shutil", "tempfile"}


def _imports(path: Path) -> set[str]:
    return _imports_of(path.read_text(), path.relative_to(PKG).parts[0])


def _imports_of(source: str, layer_pkg: str) -> set[str]:
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                found.add(node.module or "")
            elif node.level == 1:
                found.add(f"raftzmq.{layer_pkg}.{node.module or ''}".rstrip("."))
            else:  # from ..x import y
                found.add(f"raftzmq.{node.module}" if node.module else "raftzmq")
    return found


def _modules(layer: str) -> list[Path]:
    return sorted((PKG / layer).rglob("*.py"))


def _forbidden(layer: str, names: set[str]) -> set[str]:
    return {n for n in names if n.split(".")[0] == "raftzmq" and len(n.split(".")) > 1
            and n.split(".")[1] in ALLOWED and n.split(".")[1] not in ALLOWED[layer]}


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_imports_point_one_way(layer):
    for path in _modules(layer):
        assert not _forbidden(layer, _imports(path)), f"{path.relative_to(PKG)} imports the wrong way"


def test_protocol_layer_does_no_io():
    for path in _modules("protocol"):
        bad = {n for n in _imports(path) if n.split(".")[0] in IO_MODULES}
        assert not bad, f"{path.relative_to(PKG)} imports {sorted(bad)}"


def test_these_checks_catch_wrong_way_imports():
    bad = "from ..runtime.storage import StateFile\nimport raftzmq.lab.simulator\nfrom .quorum import majority\n"
    names = _imports_of(bad, "protocol")
    assert names == {"raftzmq.runtime.storage", "raftzmq.lab.simulator", "raftzmq.protocol.quorum"}
    assert _forbidden("protocol", names) == {"raftzmq.runtime.storage", "raftzmq.lab.simulator"}
    assert _forbidden("evidence", {"raftzmq.protocol.core"}) == {"raftzmq.protocol.core"}
