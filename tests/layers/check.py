#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The layer rule of HACKING.md "Layout", checked from the #include lines.

Every folder has a rank; a file may include headers of its own folder or of folders with a
lower rank, never of a higher one nor of another folder with the same rank (siblings stay
independent). Includes of one folder's own files must not form a cycle either.

    tests/layers/check.py [ROOT]      exit 0 when the tree obeys the rule, 1 with one line
                                      per violation ("file:line: ...") otherwise
"""

import os
import re
import sys

# Lowest first. Folders of one rank are siblings and must not include each other.
RANKS = {
    "lib/base": 0,
    "lib/format": 1,
    "lib/net": 2,
    "lib/config": 3,
    "lib/ontap": 4, "lib/pve": 4, "lib/host": 4, "lib/sched": 4,
    "lib/ops": 5,
    "policies": 6,
    "hooks": 7, "watcher": 7,
    "cli": 8,
}
# Flat include names resolve through these -I directories (Makefile CPPFLAGS), in order.
INCLUDE_DIRS = ["lib", "policies", "hooks", "watcher", "cli"]
INCLUDE_RE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')


def folder_of(rel):
    d = os.path.dirname(rel)
    while d and d not in RANKS:
        d = os.path.dirname(d)
    return d or None


def sources(root):
    for top in ("lib", "policies", "hooks", "watcher", "cli"):
        for dirpath, _dirs, files in os.walk(os.path.join(root, top)):
            for name in sorted(files):
                if name.endswith((".c", ".h")):
                    yield os.path.relpath(os.path.join(dirpath, name), root)


def resolve(root, rel, inc):
    """The repository-relative path an include names, or None for a missing file."""
    here = os.path.join(os.path.dirname(rel), inc)
    if os.path.exists(os.path.join(root, here)):
        return os.path.normpath(here)
    for d in INCLUDE_DIRS:
        cand = os.path.join(d, inc)
        if os.path.exists(os.path.join(root, cand)):
            return os.path.normpath(cand)
    return None


def check(root):
    problems = []
    edges = {}
    for rel in sources(root):
        src = folder_of(rel)
        if src is None:
            problems.append("%s:1: folder has no layer in tests/layers/check.py" % rel)
            continue
        with open(os.path.join(root, rel), encoding="utf-8", errors="replace") as f:
            for lineno, line in enumerate(f, 1):
                m = INCLUDE_RE.match(line)
                if not m:
                    continue
                target = resolve(root, rel, m.group(1))
                if target is None:
                    problems.append("%s:%d: includes \"%s\", which does not exist"
                                    % (rel, lineno, m.group(1)))
                    continue
                dst = folder_of(target)
                if dst is None:
                    problems.append("%s:%d: includes %s outside every layer" % (rel, lineno, target))
                    continue
                edges.setdefault(rel, []).append((target, lineno))
                if dst == src:
                    continue
                if RANKS[dst] > RANKS[src]:
                    problems.append("%s:%d: upward include of %s (%s is above %s)"
                                    % (rel, lineno, target, dst, src))
                elif RANKS[dst] == RANKS[src]:
                    problems.append("%s:%d: include of sibling layer %s from %s"
                                    % (rel, lineno, target, src))
    problems.extend(cycles(edges))
    return problems


def cycles(edges):
    """One line per include cycle (depth-first search, each cycle reported once)."""
    out, seen, state = [], set(), {}

    def visit(node, stack):
        state[node] = 1
        stack.append(node)
        for nxt, lineno in edges.get(node, []):
            if state.get(nxt) == 1:
                cyc = stack[stack.index(nxt):] + [nxt]
                key = frozenset(cyc)
                if key not in seen:
                    seen.add(key)
                    out.append("%s:%d: include cycle %s" % (node, lineno, " -> ".join(cyc)))
            elif state.get(nxt) is None:
                visit(nxt, stack)
        stack.pop()
        state[node] = 2

    for node in sorted(edges):
        if state.get(node) is None:
            visit(node, [])
    return out


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.dirname(os.path.dirname(
        os.path.dirname(os.path.abspath(__file__))))
    problems = check(root)
    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
