#!/usr/bin/env python3
"""Fails when files of one crate import each other in a cycle: a newcomer should be
able to read a crate's files in an order where each uses only those before it.

Each `.rs` file is a module (`x.rs` and `x/mod.rs` are `crate::x`). A file uses
another when its code outside `#[cfg(test)]` names a path into it: `crate::a::b::Item`,
`super::…`, `self::…`, or a child module's `child::Item`. A path through a
re-export (`pub use inner::Item;` in a module or at the crate root) counts as a use of
the file that defines the item, not of the module that re-exports it, so a facade
module does not make false cycles. A file's use of a module that contains it (a child
naming its parent's items through `super::`) is not counted: a folder is read as one
unit, its `mod.rs` first.

In the library, each file must also use only files of its own layer or below
(`LAYERS`, bottom first).

Usage: scripts/check_module_cycles.py [SRC_DIR ...] (default: every crate's src/).
Prints the cycles found and exits 1, or prints one line and exits 0.
"""

import os
import re
import sys

CRATES = ["intune-integration/src", "ise-client/src", "graph-client/src", "intune-client/src",
          "http-common/src", "simulator/src", "testkit/src", "cli/src"]
IDENT = r"[A-Za-z_][A-Za-z0-9_]*"


def strip(text):
    """The text without comments, strings' contents and its `#[cfg(test)]` items."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', text)
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]", text):
        if m.start() < i:
            continue
        out.append(text[i:m.start()])
        j, depth, opened = m.end(), 0, False
        while j < len(text):
            c = text[j]
            if c == "{":
                depth, opened = depth + 1, True
            elif c == "}":
                depth -= 1
                if opened and depth == 0:
                    j += 1
                    break
            elif c == ";" and not opened:
                j += 1
                break
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def files(src):
    """{module path tuple: stripped text}, `()` for the crate root."""
    mods = {}
    for root, _, names in os.walk(src):
        for name in names:
            if not name.endswith(".rs"):
                continue
            rel = os.path.relpath(os.path.join(root, name), src)[:-3].split(os.sep)
            if rel[-1] in ("mod", "lib", "main"):
                rel = rel[:-1]
            path = tuple(p for p in rel if p)
            with open(os.path.join(root, name), encoding="utf-8") as f:
                mods[path] = strip(f.read())
    return mods


def expand(tree):
    """`a::{b, c::{d, e as f}}` → ['a::b', 'a::c::d', 'a::c::e']."""
    tree = re.sub(r"\s+as\s+\w+", "", tree)
    tree = re.sub(r"\s+", "", tree)
    m = re.match(r"^(.*?)::\{(.*)\}$", tree)
    if m and "{" not in m.group(1):
        parts, depth, cur = [], 0, ""
        for c in m.group(2):
            depth += (c == "{") - (c == "}")
            if c == "," and depth == 0:
                parts.append(cur)
                cur = ""
            else:
                cur += c
        parts.append(cur)
        return [x for p in parts if p for x in expand(m.group(1) + "::" + p)]
    return [tree]


def resolve(mods, here, path):
    """The module a path names from module `here` (`None` when outside the crate)."""
    segs = [s for s in path.split("::") if s]
    if not segs:
        return None
    if segs[0] == "crate":
        base, segs = (), segs[1:]
    elif segs[0] == "self":
        base, segs = here, segs[1:]
    elif segs[0] == "super":
        base = here
        while segs and segs[0] == "super":
            base, segs = base[:-1], segs[1:]
    elif here + (segs[0],) in mods:
        base = here
    else:
        return None
    return base, segs


def reexports(mods):
    """{(module, name): path text} of each `pub use` / `pub(crate) use`."""
    out = {}
    for mod, text in mods.items():
        for m in re.finditer(r"pub(?:\([^)]*\))?\s+use\s+([^;]+);", text):
            for p in expand(m.group(1)):
                name = p.split("::")[-1]
                if name not in ("*", "self"):
                    out[(mod, name)] = p
    return out


def target(mods, exports, here, path, depth=0):
    r = resolve(mods, here, path)
    if r is None or depth > 8:
        return None
    mod, segs = r
    while segs and mod + (segs[0],) in mods:
        mod, segs = mod + (segs[0],), segs[1:]
    if segs and (mod, segs[0]) in exports:
        # Through the re-export, with the rest of the path after it.
        through = "::".join([exports[(mod, segs[0])]] + segs[1:])
        found = target(mods, exports, mod, through, depth + 1)
        if found is not None:
            return found
    return mod


def graph(src):
    mods = files(src)
    exports = reexports(mods)
    edges = {m: set() for m in mods}
    for mod, text in mods.items():
        paths, aliases = set(), {}
        for m in re.finditer(r"\buse\s+([^;]+);", text):
            for p in expand(m.group(1)):
                paths.add(p)
                aliases[p.split("::")[-1]] = p
        paths.update(re.findall(rf"\b(?:crate|super|self)(?:::{IDENT})+", text))
        # A path through a name a `use` brought in (`use crate::commands;` then
        # `commands::onboard::Args`).
        for p in re.findall(rf"(?<![:\w]){IDENT}(?:::{IDENT})+", text):
            head = p.split("::")[0]
            if head in aliases and aliases[head] != p:
                paths.add(aliases[head] + p[len(head):])
        for p in paths:
            t = target(mods, exports, mod, p)
            # A file's use of its own folder's module (a child naming `super::`) is
            # the folder's inside: the folder is read as one unit.
            if t is not None and t != () and mod[:len(t)] != t:
                edges[mod].add(t)
    return edges


# The library's layers, bottom first — its top-level folders (and error.rs): a file may
# use files of its own layer or below.
LIBRARY = "intune-integration/src"
LAYERS = [
    ("data", ["data"]),
    ("error", ["error"]),
    ("base", ["base"]),
    ("engine", ["engine"]),
    ("workflows", ["workflows"]),
    ("runtime", ["runtime"]),
]
# Data that lives in a workflow's folder: the configuration reads the bridge's section
# into the bridge's settings type.
ALLOWED_UPWARD = {(("engine", "config"), ("workflows", "attributes", "settings"))}


def upward(edges):
    """(file, its layer, the file above it that it uses, that layer) for each use of a
    layer above; a top-level module missing from LAYERS is reported as such."""
    rank = {m: i for i, (_, ms) in enumerate(LAYERS) for m in ms}
    found = []
    for mod, targets in edges.items():
        if not mod:
            continue
        if mod[0] not in rank:
            found.append((mod, "no layer", (), ""))
            continue
        for t in targets:
            if t[0] in rank and rank[t[0]] > rank[mod[0]] and (mod, t) not in ALLOWED_UPWARD:
                found.append((mod, LAYERS[rank[mod[0]]][0], t, LAYERS[rank[t[0]]][0]))
    return found


def cycles(edges):
    index, low, stack, on, found, counter = {}, {}, [], set(), [], [0]
    sys.setrecursionlimit(10000)

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


def name(mod):
    return "::".join(mod) or "crate"


def main():
    dirs = sys.argv[1:] or CRATES
    bad = False
    for src in dirs:
        if not os.path.isdir(src):
            continue
        edges = graph(src)
        if src.rstrip("/") == LIBRARY:
            for mod, layer, t, above in upward(edges):
                bad = True
                if layer == "no layer":
                    print(f"{src}: {name(mod)} is in no layer: add it to LAYERS")
                else:
                    print(f"{src}: {name(mod)} ({layer}) uses {name(t)} ({above}), a layer above")
        for comp in cycles(edges):
            bad = True
            print(f"{src}: cycle between {', '.join(name(m) for m in comp)}")
            for m in comp:
                print(f"  {name(m)} uses {', '.join(sorted(name(t) for t in edges[m] & set(comp)))}")
    if bad:
        sys.exit(1)
    print(f"file cycles: none in {len(dirs)} crates; the library's layers point down")


if __name__ == "__main__":
    main()
