#!/usr/bin/env python3
"""How often a workflow's call path returns to a file it had left.

Follows a workflow's context through the library's functions from an entry point:
the calls that pass it (an argument naming `ctx` or `run`, the run that holds it),
depth first, each function expanded once, in the order the body makes them, and writes down the file of
every function entered and of the caller it returns to. A "return" is a step of that
path into a file the path had already left. Resolution is by name: a call `a::f(`
goes to the `f` defined in a file whose path contains `a`; a bare `f(` to the `f`
of the same file, else the only `f` of the library; a method `.f(` only when the
library defines exactly one `f`. Test code (`tests.rs`, `#[cfg(test)]` modules) is
left out.

    python3 scripts/file_returns.py intune-integration/src workflows/onboard/mod.rs apply
"""

import os
import re
import sys

FN = re.compile(r"\bfn\s+([a-z_][a-z0-9_]*)\s*(<[^>{]*>)?\s*\(")
CALL = re.compile(r"(?:([a-z_][a-z0-9_]*)::)?(\.)?\b([a-z_][a-z0-9_]*)\s*(?:::<[^>]*>)?\(")
KEYWORDS = {"if", "while", "for", "match", "return", "fn", "loop", "in", "let", "move",
            "async", "await", "some", "ok", "err", "box", "pin", "matches", "format",
            "vec", "assert", "write", "writeln", "println", "eprintln", "panic"}


CONTEXT = re.compile(r"\b(ctx|run)\b")


def arguments(body, open_paren):
    """The text of a call's arguments; `open_paren` is just past its `(` in `body[1:]`."""
    depth, j = 1, open_paren + 1
    while j < len(body) and depth:
        depth += {"(": 1, ")": -1}.get(body[j], 0)
        j += 1
    return body[open_paren + 1:j]


def strip(text):
    """Comments and string literals blanked (lengths kept)."""
    out, i, n = [], 0, len(text)
    while i < n:
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text[i] == '"':
            j = i + 1
            while j < n and text[j] != '"':
                j += 2 if text[j] == "\\" else 1
            out.append('"' + " " * (j - i - 1) + '"')
            i = j + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def test_spans(text):
    spans = []
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        spans.append((m.start(), match_brace(text, m.end() - 1)))
    return spans


def match_brace(text, open_at):
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(text)


def functions(root):
    fns = []
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            if not name.endswith(".rs") or name == "tests.rs":
                continue
            path = os.path.join(dirpath, name)
            text = strip(open(path, encoding="utf-8").read())
            skip = test_spans(text)
            rel = os.path.relpath(path, root)
            for m in FN.finditer(text):
                if any(a <= m.start() <= b for a, b in skip):
                    continue
                body = text.find("{", m.end())
                semi = text.find(";", m.end())
                if body < 0 or (0 <= semi < body):
                    continue
                fns.append((m.group(1), rel, text[body:match_brace(text, body) + 1]))
    return fns


def main():
    root, entry_file, entry_fn = sys.argv[1:4]
    fns = functions(root)
    by_name = {}
    for i, (name, rel, _) in enumerate(fns):
        by_name.setdefault(name, []).append(i)

    def resolve(module, method, name, here):
        cands = by_name.get(name, [])
        if not cands or name in KEYWORDS:
            return None
        if module:
            inmod = [c for c in cands if module in fns[c][1].replace(".rs", "").split(os.sep)]
            return inmod[0] if len(inmod) == 1 else None
        if method:
            return cands[0] if len(cands) == 1 else None
        same = [c for c in cands if fns[c][1] == here]
        if same:
            return same[0]
        return cands[0] if len(cands) == 1 else None

    start = next(i for i, f in enumerate(fns) if f[0] == entry_fn and f[1] == entry_file)
    path, seen = [], set()

    def visit(i):
        seen.add(i)
        name, rel, body = fns[i]
        path.append(rel)
        for m in CALL.finditer(body[1:]):
            if not CONTEXT.search(arguments(body, m.end())):
                continue
            callee = resolve(m.group(1), m.group(2), m.group(3), rel)
            if callee is None or callee in seen:
                continue
            visit(callee)
            path.append(rel)

    sys.setrecursionlimit(10000)
    visit(start)
    steps = [f for k, f in enumerate(path) if k == 0 or path[k - 1] != f]
    left, returns = set(), 0
    for k, f in enumerate(steps):
        if k and f in left:
            returns += 1
        if k:
            left.add(steps[k - 1])
    files = sorted(set(steps))
    print(f"{len(seen)} functions, {len(files)} files, {returns} returns to a file left")
    for f in files:
        print(f"  {f}")


if __name__ == "__main__":
    main()
