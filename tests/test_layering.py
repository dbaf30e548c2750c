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
    rel = path.relative_to(PKG.parent).with_suffix("")
    parts = list(rel.parts)
    package = parts[:-1] if parts[-1] != "__init__" else parts[:-1]
    return _imports_of(path.read_text(), ".".join(package))


def _imports_of(source: str, package: str) -> set[str]:
    """Every module `source` imports, relative imports resolved against `package` (e.g. "raftzmq.lab.sim")."""
    tree = ast.parse(source)
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                base = node.module or ""
            else:
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([node.module] if node.module else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import module`
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
    bad = "from ..runtime.node.storage import StateFile\nimport raftzmq.lab.sim.simulator\nfrom .quorum import majority\n"
    names = _imports_of(bad, "raftzmq.protocol")
    assert {"raftzmq.runtime.node.storage", "raftzmq.lab.sim.simulator", "raftzmq.protocol.quorum"} <= names
    assert _forbidden("protocol", names) == {"raftzmq.runtime.node.storage", "raftzmq.runtime.node.storage.StateFile",
                                             "raftzmq.lab.sim.simulator"}
    nested = _imports_of("from ...runtime.cluster import control\n", "raftzmq.lab.live")
    assert "raftzmq.runtime.cluster.control" in nested
    assert _forbidden("evidence", {"raftzmq.protocol.core"}) == {"raftzmq.protocol.core"}


# Inside runtime/ and lab/, the sub-packages point one way too. A node process knows nothing of the supervisor
# around it (it only enters the namespace netns made for it); the simulator is below the campaigns, benchmarks and
# the scorecard that drive it.
SUBPACKAGE_FORBIDDEN = {
    "runtime.node": {"runtime.cluster.supervisor", "runtime.cluster.spawn", "runtime.cluster.launch",
                     "runtime.cluster.control", "runtime.cluster.runs", "lab"},
    "runtime.cores": {"runtime.cluster", "runtime.node", "lab"},
    "lab.sim": {"lab.bench", "lab.live", "lab.conform", "runtime.cluster"},
    "lab.conform": {"lab.bench", "lab.live", "runtime.cluster"},
    "lab.kv": {"lab.bench", "lab.live", "lab.sim", "lab.conform", "runtime"},  # shared by live and sim: below both
}


@pytest.mark.parametrize("sub", sorted(SUBPACKAGE_FORBIDDEN))
def test_subpackages_point_one_way(sub):
    folder = PKG.joinpath(*sub.split("."))
    assert folder.is_dir(), f"raftzmq/{sub.replace('.', '/')} is gone: update the README's architecture and this test"
    for path in sorted(folder.rglob("*.py")):
        bad = {n for n in _imports(path) for f in SUBPACKAGE_FORBIDDEN[sub]
               if n == f"raftzmq.{f}" or n.startswith(f"raftzmq.{f}.")}
        assert not bad, f"{path.relative_to(PKG)} imports {sorted(bad)}"


def test_every_module_sits_in_a_subpackage_that_says_its_job():
    # lab/ and runtime/ hold sub-packages (and runtime/config.py, shared by node, cluster and sim), not loose modules.
    loose = {p.name for layer in ("lab", "runtime") for p in (PKG / layer).glob("*.py")} - {"__init__.py", "config.py"}
    assert not loose, f"modules outside a sub-package: {sorted(loose)}"
    for init in list((PKG / "lab").glob("*/__init__.py")) + list((PKG / "runtime").glob("*/__init__.py")):
        assert ast.get_docstring(ast.parse(init.read_text())), f"{init.relative_to(PKG)} needs a docstring: its job"
