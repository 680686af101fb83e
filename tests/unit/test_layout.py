"""The package's layout is its architecture: capability packages that import only what their
docstring allows, no module left at the top, and a module map in docs/design.md that names
every module."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "functions" / "imagegen"
PACKAGES = sorted(p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists())


def allowed_imports(package: str) -> set[str]:
    """The packages named on the `May import:` line of a package's docstring."""
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text())) or ""
    line = re.search(r"^May import: (.*)\.$", doc, re.MULTILINE)
    assert line, f"{package}/__init__.py must say what it may import ('May import: ...')"
    names = line.group(1)
    return set() if names.startswith("nothing") else {n.strip() for n in names.split(",")}


def imported_packages(path: Path) -> set[str]:
    """The packages of `imagegen` that a module imports from (relative imports included)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path.name}: use absolute imports (from imagegen.x import y)"
            if node.module and node.module.startswith("imagegen."):
                found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found |= {a.name.split(".")[1] for a in node.names if a.name.startswith("imagegen.")}
    return found


def test_every_module_lives_in_a_capability_package():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.name != "__init__.py"]
    assert loose == [], "put these in a package of functions/imagegen/"
    assert set(PACKAGES) >= {"core", "ledger", "operations", "transports"}


@pytest.mark.parametrize("package", PACKAGES)
def test_a_package_imports_only_what_its_docstring_allows(package):
    allowed = allowed_imports(package) | {package}
    assert allowed <= set(PACKAGES), f"{package} names an unknown package"
    for module in sorted((PACKAGE / package).glob("*.py")):
        extra = imported_packages(module) - allowed
        assert not extra, f"{package}/{module.name} imports {sorted(extra)}"


def test_the_packages_form_layers_without_cycles():
    remaining = {p: allowed_imports(p) for p in PACKAGES}
    while remaining:
        ready = [p for p, deps in remaining.items() if not deps & set(remaining)]
        assert ready, f"cycle among {sorted(remaining)}"
        for p in ready:
            del remaining[p]


def test_main_reaches_the_domain_only_through_operations_and_transports():
    assert imported_packages(ROOT / "functions" / "main.py") <= {"core", "operations", "transports"}


def test_the_module_map_in_design_md_names_every_module():
    design = (ROOT / "docs" / "design.md").read_text()
    modules = sorted(
        f"{p.parent.name}/{p.name}" for p in PACKAGE.glob("*/*.py") if p.name != "__init__.py"
    )
    missing = [m for m in modules if f"`{m}`" not in design]
    assert missing == [], "add these to the module map in docs/design.md"
    stale = sorted(
        m
        for m in re.findall(r"`([a-z_]+/[a-z_]+\.py)`", design)
        if m.split("/")[0] in PACKAGES and m not in modules
    )
    assert stale == [], "the module map names modules that no longer exist"
