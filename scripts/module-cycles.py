#!/usr/bin/env python3
"""Finds import cycles between the top-level modules of a Rust crate, from its `use` lines.

Usage: python3 scripts/module-cycles.py src server/src app/src

For each crate root given, every `crate::<module>` a module names outside comments and
its test module counts as an edge (`lib.rs` and `main.rs`, the roots everything hangs
from, are left out). Prints each crate's edges with -v, and every cycle found; exits 1
if there is one (ARCHITECTURE.md: each floor calls only the floors below it).
"""

import pathlib
import re
import sys


def module_of(root: pathlib.Path, file: pathlib.Path) -> str:
    part = file.relative_to(root).parts[0]
    return part[:-3] if part.endswith(".rs") else part


def edges(root: pathlib.Path) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for file in sorted(root.rglob("*.rs")):
        module = module_of(root, file)
        if module in ("lib", "main"):
            continue
        text = file.read_text(encoding="utf-8")
        text = re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]
        code = "\n".join(l for l in text.splitlines() if not l.strip().startswith("//"))
        named = set(re.findall(r"crate::([a-z_][a-z0-9_]*)", code))
        # `use crate::{a, b::c, …};`: the first segment of each top-level item.
        for group in re.findall(r"crate::\{(.*?)\};", code, re.S):
            depth, item, items = 0, "", []
            for ch in group:
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                elif ch == "," and depth == 0:
                    items.append(item)
                    item = ""
                    continue
                item += ch
            items.append(item)
            for item in items:
                first = re.match(r"\s*([a-z_][a-z0-9_]*)", item)
                if first:
                    named.add(first.group(1))
        graph.setdefault(module, set()).update(named - {module})
    modules = set(graph)
    return {m: deps & modules for m, deps in graph.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def main() -> int:
    verbose = "-v" in sys.argv[1:]
    roots = [a for a in sys.argv[1:] if a != "-v"]
    failed = False
    for root in roots:
        graph = edges(pathlib.Path(root))
        if verbose:
            for module in sorted(graph):
                print(f"  {root}: {module} -> {', '.join(sorted(graph[module])) or '-'}")
        found = cycles(graph)
        for component in found:
            print(f"{root}: import cycle between {', '.join(component)}")
        failed |= bool(found)
        if not found:
            print(f"{root}: no import cycle between its {len(graph)} modules")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
