#!/usr/bin/env python3
"""Fails when modules of one crate import each other in a cycle (through `crate::`
paths outside `#[cfg(test)]` code): a newcomer should be able to read a crate's
modules in an order where each uses only those before it.

Usage: scripts/check_module_cycles.py [SRC_DIR ...] (default: every crate's src/ and
resources/ folders). Prints the cycles found and exits 1, or prints one line and exits 0.
"""

import os
import re
import sys

CRATES = ["intune-integration/src", "ise-client/src", "ise-client/src/resources",
          "graph-client/src", "graph-client/src/resources", "intune-client/src", "http-common/src",
          "simulator/src", "testkit/src", "cli/src"]


def modules(src):
    out = {}
    for name in os.listdir(src):
        path = os.path.join(src, name)
        if name.endswith(".rs") and name not in ("lib.rs", "main.rs", "mod.rs"):
            text = open(path, encoding="utf-8").read()
            text = re.sub(r"//[^\n]*", "", text)
            cut = text.find("#[cfg(test)]")
            out[name[:-3]] = text if cut < 0 else text[:cut]
    return out


def graph(src):
    mods = modules(src)
    edges = {}
    for name, text in mods.items():
        used = set(re.findall(r"crate::(\w+)", text))
        for group in re.findall(r"use crate::\{([^}]*)\}", text):
            used |= set(re.findall(r"(\w+)", group))
        used |= set(re.findall(r"super::(\w+)", text)) if src.endswith("resources") else set()
        edges[name] = {m for m in used if m in mods and m != name}
    return edges


def cycles(edges):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return found


def main():
    dirs = sys.argv[1:] or CRATES
    bad = False
    for src in dirs:
        if not os.path.isdir(src):
            continue
        edges = graph(src)
        for comp in cycles(edges):
            bad = True
            print(f"{src}: cycle between {', '.join(comp)}")
            for m in comp:
                print(f"  {m} uses {', '.join(sorted(edges[m] & set(comp)))}")
    if bad:
        sys.exit(1)
    print(f"module cycles: none in {len(dirs)} folders")


if __name__ == "__main__":
    main()
