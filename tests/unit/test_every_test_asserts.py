"""No test in the suite passes for want of checking anything.

A test checks something when its body (nested functions included) has an `assert`, raises
AssertionError, uses `pytest.raises`/`warns`/`fail`, or calls a helper that does: a function
named `assert_*`/`expect_*`, or one defined in the test's own module, in tests/conftest.py,
in tests/support/ or in a test module it imports from, whose body checks something itself.
A fixture counts when the test calls what it yields (`run_mail(...)`), not when it only
requests it.
"""

from __future__ import annotations

import ast
from pathlib import Path

from pipeline.config import BASE_DIR

TESTS = BASE_DIR / "tests"
#: pytest's own calls that fail a test.
PYTEST_CHECKS = {"raises", "warns", "fail", "deprecated_call"}
#: A helper with such a name is taken at its word.
HELPER_PREFIXES = ("assert_", "expect_")

Function = ast.FunctionDef | ast.AsyncFunctionDef


def _parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _functions(tree: ast.AST) -> dict[str, list[Function]]:
    found: dict[str, list[Function]] = {}
    for node in ast.walk(tree):
        if isinstance(node, Function):
            found.setdefault(node.name, []).append(node)
    return found


def _called(node: ast.AST) -> set[str]:
    names = set()
    for call in ast.walk(node):
        if isinstance(call, ast.Call):
            if isinstance(call.func, ast.Name):
                names.add(call.func.id)
            elif isinstance(call.func, ast.Attribute):
                names.add(call.func.attr)
    return names


def _checks_itself(node: ast.AST) -> bool:
    for child in ast.walk(node):
        if isinstance(child, ast.Assert):
            return True
        if isinstance(child, ast.Raise) and child.exc is not None:
            exc = child.exc.func if isinstance(child.exc, ast.Call) else child.exc
            if isinstance(exc, ast.Name) and exc.id == "AssertionError":
                return True
        if (
            isinstance(child, ast.Call)
            and isinstance(child.func, ast.Attribute)
            and isinstance(child.func.value, ast.Name)
            and child.func.value.id == "pytest"
            and child.func.attr in PYTEST_CHECKS
        ):
            return True
    return False


def _checking_helpers(functions: dict[str, list[Function]]) -> set[str]:
    """Names of the functions that check something, directly or through one another."""
    checking = {name for name, defs in functions.items() if any(_checks_itself(d) for d in defs)}
    while True:
        more = {
            name
            for name, defs in functions.items()
            if name not in checking and any(_called(d) & checking for d in defs)
        }
        if not more:
            return checking
        checking |= more


def _imported_test_modules(tree: ast.Module) -> list[Path]:
    paths = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
            path = BASE_DIR.joinpath(*node.module.split(".")).with_suffix(".py")
            if path.exists():
                paths.append(path)
    return paths


def _tests(tree: ast.Module) -> list[Function]:
    tests = [n for n in tree.body if isinstance(n, Function) and n.name.startswith("test")]
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.startswith("Test")):
        tests += [n for n in cls.body if isinstance(n, Function) and n.name.startswith("test")]
    return tests


def unchecked(tree: ast.Module, pool: dict[str, list[Function]]) -> list[Function]:
    """The tests of `tree` that check nothing, with `pool` the helpers they can call."""
    checking = _checking_helpers(pool)
    found = []
    for test in _tests(tree):
        called = _called(test)
        if not (_checks_itself(test) or called & checking or any(n.startswith(HELPER_PREFIXES) for n in called)):
            found.append(test)
    return found


def unchecked_tests() -> list[str]:
    shared: dict[str, list[Function]] = {}
    for path in [TESTS / "conftest.py", *sorted((TESTS / "support").glob("*.py"))]:
        for name, defs in _functions(_parse(path)).items():
            shared.setdefault(name, []).extend(defs)
    found = []
    for path in sorted(TESTS.rglob("test_*.py")):
        tree = _parse(path)
        pool = {name: list(defs) for name, defs in shared.items()}
        for module in [tree, *(_parse(p) for p in _imported_test_modules(tree))]:
            for name, defs in _functions(module).items():
                pool.setdefault(name, []).extend(defs)
        found += [f"{path.relative_to(BASE_DIR)}:{test.lineno} {test.name}" for test in unchecked(tree, pool)]
    return found


def test_every_test_checks_something():
    found = unchecked_tests()
    assert not found, "tests that check nothing (see this module's docstring):\n" + "\n".join(found)


def test_the_guard_sees_a_test_that_checks_nothing():
    tree = ast.parse(
        "def helper():\n    return 1\n\n"
        "def checker(x):\n    assert x\n\n"
        "def indirect(x):\n    checker(x)\n\n"
        "def test_nothing():\n    helper()\n\n"
        "def test_a_lambda_that_is_never_an_assert():\n    (lambda: helper())()\n\n"
        "def test_direct():\n    assert helper()\n\n"
        "def test_through_helpers():\n    indirect(helper())\n\n"
        "def test_named_helper():\n    assert_fine()\n\n"
        "def test_raises():\n    with pytest.raises(ValueError):\n        int('x')\n\n"
        "def test_wait():\n    raise AssertionError('timed out')\n\n"
        "class TestGroup:\n    def test_in_a_class(self):\n        helper()\n"
    )
    names = [test.name for test in unchecked(tree, _functions(tree))]
    assert names == ["test_nothing", "test_a_lambda_that_is_never_an_assert", "test_in_a_class"]
