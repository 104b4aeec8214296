"""The import graph of ``graders`` and ``autograde`` has no circle, and modules stay short.

The graph is read from the source (Python's ``ast``; nothing is imported, so it takes well under
a second): every ``import`` and ``from ... import`` of a module, at module level and inside
functions alike, since an import moved into a function still ties the two modules together and
only hides the circle. An edge goes to the module that is named, or to the submodule where a
``from package import name`` names one; a package's ``__init__`` is not counted as imported by
its submodules (Python has it half-initialised by then, which is harmless).

Imports inside functions: each one says why it waits, in a comment on or above its line, or the
module says it once in its docstring, in a line that starts with ``Imports inside functions:``
(e.g. "Brian2 (about 4.7 s to import) loads only when a network is built").

Length: a module over :data:`MAX_LINES` lines must say why in its docstring, in a line that starts
with ``Long because:`` followed by the reason (e.g. "Long because: one protocol, the bubblewrap
arguments and the process cap belong together"). Anything else over the limit fails, naming the
module and the convention.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("graders", "autograde")
MAX_LINES = 400
LONG_BECAUSE = re.compile(r"^\s*Long because: \S", re.M)
LATE_BECAUSE = re.compile(r"^\s*Imports inside functions: \S", re.M)


def modules(root: Path, packages=PACKAGES) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` under ``root``."""
    out = {}
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _resolve(name: str, mods: dict[str, Path], node: ast.AST) -> list[str]:
    """The modules of ``mods`` one import node (in module ``name``) loads."""
    if isinstance(node, ast.Import):
        return [a.name for a in node.names if a.name in mods]
    assert isinstance(node, ast.ImportFrom)
    if node.level:
        is_pkg = mods[name].name == "__init__.py"
        base = name.split(".")
        base = base[: len(base) - node.level + (1 if is_pkg else 0)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    out = []
    for alias in node.names:
        sub = f"{target}.{alias.name}"
        if sub in mods:  # `from package import submodule`
            out.append(sub)
        elif target in mods:
            out.append(target)
    return out


def import_graph(root: Path = ROOT, packages=PACKAGES) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports (anywhere in its code)."""
    mods = modules(root, packages)
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import | ast.ImportFrom):
                graph[name].update(t for t in _resolve(name, mods, node) if t != name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of ``graph`` as ``[a, b, ..., a]``, or ``None``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


def test_no_import_cycle():
    graph = import_graph()
    assert "autograde.pipeline" in graph and "graders.harness" in graph
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def long_modules(root: Path = ROOT, packages=PACKAGES) -> list[str]:
    """Modules over :data:`MAX_LINES` lines whose docstring gives no reason, with their length."""
    out = []
    for name, path in modules(root, packages).items():
        text = path.read_text()
        n = len(text.splitlines())
        if n > MAX_LINES and not LONG_BECAUSE.search(ast.get_docstring(ast.parse(text)) or ""):
            out.append(f"{name} ({n} lines)")
    return out


def test_no_long_module_without_a_reason():
    long = long_modules()
    assert long == [], (
        f"over {MAX_LINES} lines: {', '.join(long)}; split them, or give the reason in the "
        "module docstring in a line starting with 'Long because: '"
    )


def _package(tmp_path: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    return tmp_path


def test_a_planted_cycle_is_found(tmp_path):
    """A circle hidden in a function (a -> b at module level, b -> a inside one) is found."""
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": '"""Package."""\n',
            "pkg/a.py": "from . import b\n",
            "pkg/b.py": "def f():\n    from .a import g\n    return g\n",
            "pkg/c.py": "import pkg.a\nfrom pkg.sub import d\n",
            "pkg/sub/__init__.py": "",
            "pkg/sub/d.py": "from .. import c\n",
        },
    )
    graph = import_graph(root, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"}
    assert graph["pkg.c"] == {"pkg.a", "pkg.sub.d"} and graph["pkg.sub.d"] == {"pkg.c"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert set(cycle) in ({"pkg.a", "pkg.b"}, {"pkg.c", "pkg.sub.d"})
    # without the hidden import and the subpackage's way back, no circle is left
    (root / "pkg" / "b.py").write_text("def f():\n    return 1\n")
    (root / "pkg" / "sub" / "d.py").write_text("import json\n")
    assert find_cycle(import_graph(root, ("pkg",))) is None


def test_a_long_module_needs_its_reason(tmp_path):
    body = "x = 1\n" * MAX_LINES
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/short.py": '"""Short."""\n' + body[: -len("x = 1\n")],
            "pkg/big.py": '"""Big."""\n' + body,
            "pkg/told.py": '"""Big.\n\nLong because: one table of constants.\n"""\n' + body,
        },
    )
    assert long_modules(root, ("pkg",)) == [f"pkg.big ({MAX_LINES + 1} lines)"]


def unexplained_late_imports(root: Path = ROOT, packages=PACKAGES) -> list[str]:
    """``module:line`` of every import inside a function whose reason is given nowhere."""
    out = []
    for name, path in modules(root, packages).items():
        text = path.read_text()
        tree = ast.parse(text, str(path))
        if LATE_BECAUSE.search(ast.get_docstring(tree) or ""):
            continue
        lines = text.splitlines()
        for fn in ast.walk(tree):
            if not isinstance(fn, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            for node in ast.walk(fn):
                if isinstance(node, ast.Import | ast.ImportFrom):
                    here, above = lines[node.lineno - 1], lines[node.lineno - 2].strip()
                    if "#" not in here and not above.startswith("#"):
                        out.append(f"{name}:{node.lineno}")
    return sorted(set(out))


def test_every_import_inside_a_function_says_why():
    late = unexplained_late_imports()
    assert not late, (
        f"imports inside functions without a reason: {late}; move them to the top, or say why "
        "in a comment or in the module docstring ('Imports inside functions: ...')"
    )


def test_an_unexplained_late_import_is_found(tmp_path):
    root = _package(
        tmp_path,
        {
            "pkg/__init__.py": '"""Package."""\n',
            "pkg/a.py": '"""A."""\n\n\ndef f():\n    import json\n\n    return json\n',
            "pkg/b.py": '"""B.\n\nImports inside functions: json is slow here.\n"""\n\n\n'
            "def f():\n    import json\n\n    return json\n",
            "pkg/c.py": '"""C."""\n\n\ndef f():\n    import json  # slow here\n\n    return json\n',
        },
    )
    assert unexplained_late_imports(root, ("pkg",)) == ["pkg.a:5"]
