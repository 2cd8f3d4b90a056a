#!/usr/bin/env python3
"""Fails when a glob import (`use …::*;`) appears outside a `#[cfg(test)]` module in
the library, the command or the clients: imports name what they take, so that who
depends on whom stays readable. Test modules may glob their parent (`use super::*;`).

Usage: check_glob_imports.py [ROOT]   (ROOT defaults to the repository)
"""
import pathlib
import re
import sys

CRATES = ["intune-integration", "cli", "graph-client", "ise-client", "intune-client",
          "http-common"]
GLOB = re.compile(r"^\s*(pub(\([^)]*\))?\s+)?use\s+[^;]*::\*\s*;")


def test_spans(lines):
    """Line ranges (start, end) of `#[cfg(test)]` items, by brace depth."""
    spans, i = [], 0
    while i < len(lines):
        if lines[i].strip().startswith("#[cfg(test)]"):
            depth, j, opened = 0, i, False
            while j < len(lines):
                depth += lines[j].count("{") - lines[j].count("}")
                opened = opened or "{" in lines[j]
                if opened and depth <= 0:
                    break
                if not opened and lines[j].rstrip().endswith(";") and j > i:
                    break
                j += 1
            spans.append((i, j))
            i = j
        i += 1
    return spans


def main():
    root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    found = []
    for crate in CRATES:
        for path in sorted((root / crate / "src").rglob("*.rs")):
            if path.name == "tests.rs":
                continue
            lines = path.read_text(encoding="utf-8").split("\n")
            spans = test_spans(lines)
            for n, line in enumerate(lines):
                if GLOB.match(line) and not any(a <= n <= b for a, b in spans):
                    found.append(f"{path.relative_to(root)}:{n + 1}: {line.strip()}")
    for f in found:
        print(f)
    if found:
        print(f"{len(found)} glob import(s) outside test modules: name what is imported")
        return 1
    print("glob imports: none outside test modules")
    return 0


if __name__ == "__main__":
    sys.exit(main())
