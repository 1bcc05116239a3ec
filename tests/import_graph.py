"""Import cycles among our packages, found with grimp (the graph import-linter checks the layers on).

    python -m tests.import_graph      # prints every cycle; exit status 1 when there is one (make lint)

Every import counts: module level, inside functions ("lazy") and under ``TYPE_CHECKING``. A cycle held
together by a lazy or a type-only import is still a cycle: each side must be read to understand the
other, and moving one line turns it into an ImportError at start-up.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence

import grimp

PACKAGES = ("copilot", "prompts", "retrievers", "knowledge_base", "skills", "eval")


def build_graph(packages: Sequence[str] = PACKAGES) -> grimp.ImportGraph:
    return grimp.build_graph(*packages, include_external_packages=False, cache_dir=None)


def cycles(graph: grimp.ImportGraph, modules: Iterable[str] | None = None) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself), sorted.

    Iterative Tarjan: the graph has a few hundred modules, recursion depth is no concern, but a stack
    overflow in a lint step would be a poor message."""
    nodes = sorted(modules if modules is not None else graph.modules)
    edges = {n: sorted(graph.find_modules_directly_imported_by(n) & set(nodes)) for n in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, 0)]
        while work:
            node, i = work.pop()
            if i == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            if i < len(edges[node]):
                work.append((node, i + 1))
                nxt = edges[node][i]
                if nxt not in index:
                    work.append((nxt, 0))
                elif nxt in on_stack:
                    low[node] = min(low[node], index[nxt])
                continue
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.append(sorted(component))
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return sorted(found)


def main(argv: list[str] | None = None) -> int:
    packages = tuple(argv) if argv else PACKAGES
    graph = build_graph(packages)
    found = cycles(graph)
    for component in found:
        chain: tuple[str, ...] | list[str] = graph.find_shortest_chain(component[0], component[-1]) or []
        print(f"import cycle among {len(component)} modules: {', '.join(component)}")
        if chain:
            print("  e.g. " + " -> ".join(chain))
    if not found:
        print(f"no import cycles in {', '.join(packages)} ({len(graph.modules)} modules)")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
