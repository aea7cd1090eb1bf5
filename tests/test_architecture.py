"""The layers hold in the code: no import cycle in irvae_core, imports only down its layers (LAYERS), models/
below it, no streamlit under the app, and the README's Layout section names every module that exists (and no other).

The import graph is read from the source with ``ast`` (nothing is imported), counting every import,
also those inside functions: a cycle hidden behind a lazy import is still a circle for a reader. An
import of ``a.b.c`` also depends on the packages ``a.b`` and ``a`` (Python runs their ``__init__``
first).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(package: str) -> dict[str, Path]:
    return {module_name(p): p for p in sorted((ROOT / package).rglob("*.py"))}


def imported_names(path: Path) -> set[str]:
    """Every module name an import statement of ``path`` names (absolute; relative ones resolved)."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path).split(".")
    package = here if path.name == "__init__.py" else here[:-1]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package[:len(package) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)  # `from pkg import submodule`
    return names


def dependencies(names: set[str], known: set[str], importer: str = "") -> set[str]:
    """The known modules that importing ``names`` from ``importer`` runs: each named module and its parent
    packages, except the importer's own packages (always initialised before it, so no dependency of its)."""
    own = {".".join(importer.split(".")[:i]) for i in range(1, importer.count(".") + 1)}
    out = {name for name in names if name in known}
    for name in names:
        parts = name.split(".")
        out.update(p for p in (".".join(parts[:i]) for i in range(1, len(parts))) if p in known and p not in own)
    return out


def import_graph(package: str) -> dict[str, set[str]]:
    mods = modules_of(package)
    known = set(mods)
    return {name: dependencies(imported_names(path), known, name) - {name} for name, path in mods.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of the directed graph as a path [a, b, ..., a], or None (depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_cycle_finder_finds_a_cycle_and_only_a_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert find_cycle({"a": {"a.b"}, "a.b": {"a"}}) == ["a", "a.b", "a"]  # a package and its own module


def test_the_graph_sees_lazy_relative_and_package_imports(tmp_path):
    names = imported_names(ROOT / "irvae_core" / "__main__.py")
    assert "irvae_core.cli" in names
    known = {"irvae_core", "irvae_core.data", "irvae_core.data.registry", "irvae_core.mocap.asf"}
    assert dependencies({"irvae_core.data.registry"}, known, "irvae_core.mocap.asf") \
        == {"irvae_core.data", "irvae_core.data.registry"}
    # a module's own packages are initialised before it: no edge back to them unless it names one
    assert dependencies({"irvae_core.data.registry"}, known, "irvae_core.data.cmu") == {"irvae_core.data.registry"}
    assert dependencies({"irvae_core.data"}, known, "irvae_core.data.cmu") == {"irvae_core.data"}


def test_irvae_core_has_no_import_cycle():
    graph = import_graph("irvae_core")
    assert len(graph) > 30 and "irvae_core.train.trainer" in graph["irvae_core.experiments.jobs"]  # the graph is real
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle in irvae_core: " + " -> ".join(cycle)


def test_layers_import_only_downwards():
    problems = []
    for package, forbidden in (("models", ("irvae_core", "streamlit")), ("irvae_core", ("streamlit",))):
        for name, path in modules_of(package).items():
            bad = sorted(n for n in imported_names(path) if n.split(".")[0] in forbidden)
            if bad:
                problems.append(f"{name} imports {', '.join(bad)}")
    assert not problems, "; ".join(problems)


# irvae_core's layers, top to bottom: a module may import its own layer and the layers below it, never one above.
# The contract's paths (irvae_core.runs, .checkpoints, .regularizers, .interpolation) stand with the entry points:
# they re-export, and nothing inside irvae_core imports them.
LAYERS = [
    ("entry points", ("irvae_core.cli", "irvae_core.__main__", "irvae_core.runs", "irvae_core.checkpoints",
                      "irvae_core.regularizers", "irvae_core.interpolation")),
    ("experiments", ("irvae_core.experiments",)),
    ("viz", ("irvae_core.viz",)),
    ("views", ("irvae_core.views",)),
    ("retrieval", ("irvae_core.retrieval",)),
    ("train", ("irvae_core.train",)),
    ("geometry", ("irvae_core.geometry",)),
    ("store", ("irvae_core.store",)),
    ("data", ("irvae_core.data",)),
    ("mocap", ("irvae_core.mocap",)),
    ("config", ("irvae_core.config",)),
    ("leaves", ("irvae_core.paper", "irvae_core.errors", "irvae_core")),
]
TOP_LEVEL_MAX = 10


def layer_of(module: str) -> int:
    """The index of a module's layer in LAYERS (0 = top); the longest matching prefix decides."""
    best, depth = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and prefix.count(".") > depth:
                best, depth = i, prefix.count(".")
    assert best is not None, f"{module} belongs to no layer of LAYERS"
    return best


def test_the_layer_map_places_modules_by_their_package():
    assert layer_of("irvae_core.experiments.reproduce.plan") == 1 and layer_of("irvae_core.geometry") == 6
    assert layer_of("irvae_core.runs") == 0 and layer_of("irvae_core.store.runs") == 7
    assert layer_of("irvae_core") == len(LAYERS) - 1


def test_irvae_core_imports_only_point_down_its_layers():
    graph = import_graph("irvae_core")
    up = sorted(f"{a} ({LAYERS[layer_of(a)][0]}) imports {b} ({LAYERS[layer_of(b)][0]})"
                for a, deps in graph.items() for b in deps if layer_of(b) < layer_of(a))
    assert not up, "imports running up the layers: " + "; ".join(up)
    contract = {"irvae_core.runs", "irvae_core.checkpoints", "irvae_core.regularizers", "irvae_core.interpolation"}
    users = sorted(f"{a} imports {b}" for a, deps in graph.items() for b in deps & contract)
    assert not users, "the contract's re-exporting modules are for outside code only: " + "; ".join(users)


def test_the_top_level_holds_only_entry_points_and_leaves():
    top = sorted(p.name for p in (ROOT / "irvae_core").glob("*.py") if p.name != "__init__.py")
    assert len(top) <= TOP_LEVEL_MAX, top
    packages = sorted(p.name for p in (ROOT / "irvae_core").iterdir() if (p / "__init__.py").is_file())
    assert packages == ["config", "data", "experiments", "geometry", "mocap", "retrieval", "store", "train", "views",
                        "viz"], packages


def test_the_public_contract_imports_from_its_documented_paths():
    from irvae_core.checkpoints import load_model
    from irvae_core.data import load_run_data
    from irvae_core.geometry import (
        condition_numbers,
        mean_condition_number,
        pullback_metric,
        variance_of_riemannian_metric,
    )
    from irvae_core.interpolation import DecodedPath, Geodesic, axis_modulation, geodesic, interpolate
    from irvae_core.regularizers import fmvae_distortion, isometry_distortion, mixup, relaxed_distortion
    from irvae_core.runs import Run

    assert all(callable(f) for f in (load_model, load_run_data, condition_numbers, mean_condition_number,
                                     pullback_metric, variance_of_riemannian_metric, axis_modulation, geodesic,
                                     interpolate, fmvae_distortion, isometry_distortion, mixup, relaxed_distortion))
    assert {DecodedPath.__name__, Geodesic.__name__, Run.__name__} == {"DecodedPath", "Geodesic", "Run"}


def layout_section() -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(r"^## Layout\n(.*?)(?=^## )", text, re.S | re.M)
    assert match, "README.md has no '## Layout' section"
    return match.group(1)


def test_the_readme_layout_is_the_module_map_of_the_code():
    """Every module of irvae_core/ and models/, and every page, has its line in README's Layout; no line names
    a module that is gone."""
    listed = set(re.findall(r"^- `([\w/.]+\.py)`", layout_section(), re.M))
    files = {p.relative_to(ROOT).as_posix() for pkg in ("irvae_core", "models", "app_pages")
             for p in (ROOT / pkg).rglob("*.py") if p.name != "__init__.py"} | {"app.py"}
    assert not files - listed, f"modules missing from README's Layout: {sorted(files - listed)}"
    assert not listed - files, f"README's Layout names modules that do not exist: {sorted(listed - files)}"


def test_no_comment_cites_an_issue_or_a_file_a_user_never_has():
    """Words that rot: issue numbers, the developers' documents beside the repository, their shared data folder."""
    rotting = re.compile(r"\bissue\b|#\d{1,4}\b(?![0-9a-fA-F])|ARCHITECTURE\.md|DIGEST\.md|\.\./shared", re.I)
    found = [f"{p.relative_to(ROOT)}:{i}" for pkg in ("irvae_core", "models", "app_pages")
             for p in (ROOT / pkg).rglob("*.py") for i, line in enumerate(p.read_text().splitlines(), 1)
             if rotting.search(line) and "test example #" not in line and "pose #" not in line]
    assert not found, found
