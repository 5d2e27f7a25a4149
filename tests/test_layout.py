"""The layout stays true: imports go one way, down the stages; no two modules import each other
(directly or round a loop); no module in bot/ outgrows a few screens.

Every module's imports are read with `ast` (lazy ones inside functions too, since they run
just the same), so the test needs nothing imported and names the offending line.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOT = ROOT / "bot"

# The stages, lowest first, and what each may import besides itself. `ui` sees only the facade
# (`bot.core`) and the base, so an interface never reaches into retrieval, the store or a model.
STAGE_OF = {  # module prefix -> stage (the longest matching prefix wins)
    "bot.util": "base", "bot.errors": "base", "bot.schema": "base", "bot.config": "base",
    "bot.sources": "sources",
    "bot.index": "index",
    "bot.answer": "answer",
    "bot.brief": "brief",
    "bot.core": "core", "bot": "core",  # bot/__init__.py: `from bot import Bot`
    "bot.ui": "ui", "bot.__main__": "ui",
}
MAY_IMPORT = {
    "base": set(),
    "sources": {"base"},
    "index": {"base", "sources"},
    "answer": {"base", "sources", "index"},
    "brief": {"base", "sources", "index", "answer"},
    "core": {"base", "sources", "index", "answer", "brief"},
    "ui": {"base", "core"},
}

MAX_LINES = 450
# Files let stay over the limit while a split is pending (none since issue 17 phase 3); a file
# leaves the list once it fits.
TOO_LONG_FOR_NOW: set[str] = set()


def modules() -> dict[str, Path]:
    found = {}
    for path in sorted(BOT.rglob("*.py")):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> list[tuple[str, int]]:
    """(module imported, line) for every import of a bot module in `path`. `from pkg import x`
    counts as importing `pkg.x` when that is a module. The bare package `bot` is left out: it
    is imported before any of its modules anyway, and holds only `__version__` and the lazy
    `Bot`."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base
                       for a in node.names]
        else:
            continue
        out += [(t, node.lineno) for t in targets if t.startswith("bot.") and t != name]
    return out


def stage(module: str) -> str:
    prefix = max((p for p in STAGE_OF if module == p or module.startswith(p + ".")), key=len)
    return STAGE_OF[prefix]


def graph() -> dict[str, list[tuple[str, int]]]:
    found = modules()
    return {name: imports(name, path, set(found)) for name, path in found.items()}


def test_every_module_has_a_stage():
    assert all(stage(m) in MAY_IMPORT for m in modules())


def test_imports_go_down_the_stages():
    wrong = []
    for module, edges in graph().items():
        here = stage(module)
        for target, line in edges:
            there = stage(target)
            if there != here and there not in MAY_IMPORT[here]:
                wrong.append(f"{modules()[module].relative_to(ROOT)}:{line}: {module} ({here}) "
                             f"imports {target} ({there})")
    assert not wrong, "imports against the layout (see MAY_IMPORT):\n" + "\n".join(wrong)


def find_cycles(edges: dict[str, set[str]]) -> list[str]:
    """Every import loop a depth-first walk meets, as `a -> b -> a`."""
    cycles, state = [], {}  # state: 1 on the current path, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt):] + [nxt]))
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    return cycles


def test_no_import_cycles():
    edges = {m: {t for t, _ in e if t in modules()} for m, e in graph().items()}
    cycles = find_cycles(edges)
    assert not cycles, "modules that import each other:\n" + "\n".join(cycles)


def test_modules_fit_on_a_few_screens():
    sizes = {str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
             for p in modules().values()}
    too_long = sorted(f"{p}: {n} lines" for p, n in sizes.items()
                      if n > MAX_LINES and p not in TOO_LONG_FOR_NOW)
    assert not too_long, f"over {MAX_LINES} lines; split by job:\n" + "\n".join(too_long)
    fits = sorted(p for p in TOO_LONG_FOR_NOW if sizes.get(p, 0) <= MAX_LINES)
    assert not fits, f"now within {MAX_LINES} lines (or gone): drop from TOO_LONG_FOR_NOW: {fits}"


def test_the_check_sees_a_wrong_import(tmp_path):
    """The checks can fail: an index module importing the answer stage is caught, and so is a loop."""
    bad = tmp_path / "bad.py"
    bad.write_text("def f():\n    from bot.answer.retrieval import Retriever\n")
    edges = imports("bot.index.bad", bad, set(modules()))
    assert edges == [("bot.answer.retrieval", 2)]
    assert stage(edges[0][0]) not in MAY_IMPORT[stage("bot.index.bad")]
    assert find_cycles({"bot.a": {"bot.b"}, "bot.b": {"bot.c"}, "bot.c": {"bot.a"}}) == [
        "bot.a -> bot.b -> bot.c -> bot.a"]
