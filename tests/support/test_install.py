"""The install split: requirements.txt holds exactly what the runtime imports
(no test tools), pyproject's [project] dependencies repeat those pins, and
requirements-dev.txt adds the test tools on top of the runtime."""

from __future__ import annotations

import ast
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_DIRS = ("live", "strategies")
# import name -> distribution name, for the runtime requirements
DIST_OF = {"yaml": "pyyaml", "websocket": "websocket-client"}
TEST_TOOLS = {"pytest", "pytest-timeout", "freezegun", "hypothesis", "frontrun", "ruff", "openalgo"}


def pins(path: Path) -> dict[str, str]:
    out = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("-r"):
            continue
        name, _, version = line.partition("==")
        out[name.strip().lower()] = version.strip()
    return out


def third_party_imports() -> dict[str, str]:
    """Top-level import names outside the stdlib and this repo -> a file using it."""
    local = {"live", "strategies"}
    found: dict[str, str] = {}
    for d in RUNTIME_DIRS:
        for path in (ROOT / d).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(), str(path))):
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                else:
                    continue
                for name in names:
                    top = name.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in local:
                        found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_runtime_requirements_are_what_the_runtime_imports():
    runtime = pins(ROOT / "requirements.txt")
    used = {DIST_OF.get(name, name).lower(): where for name, where in third_party_imports().items()}
    missing = {d: w for d, w in used.items() if d not in runtime}
    assert not missing, f"imported by the runtime but not in requirements.txt: {missing}"
    # tzdata is imported by zoneinfo, not by name: the one pin no import shows.
    unused = set(runtime) - set(used) - {"tzdata"}
    assert not unused, f"in requirements.txt but imported nowhere in live/ or strategies/: {unused}"
    assert not TEST_TOOLS & set(runtime)


def test_dev_requirements_extend_the_runtime_with_the_test_tools():
    text = (ROOT / "requirements-dev.txt").read_text()
    assert "-r requirements.txt" in text.splitlines()
    assert set(pins(ROOT / "requirements-dev.txt")) == TEST_TOOLS


def test_pyproject_dependencies_repeat_the_runtime_pins():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    declared = {}
    for dep in project["dependencies"]:
        name, _, version = dep.partition("==")
        declared[name.lower()] = version
    assert declared == pins(ROOT / "requirements.txt")
    assert project["requires-python"] == ">=3.11"


def test_readme_and_ci_install_the_dev_requirements_for_the_tests():
    readme = (ROOT / "README.md").read_text()
    command = "python -m pip install -r requirements-dev.txt && python -m pytest -q"
    assert command in readme
    assert command in (ROOT / ".ci" / "run").read_text()
    # the quick start runs the engine on the runtime requirements alone
    assert "python -m pip install -r requirements.txt && python live_8020.py" in readme
