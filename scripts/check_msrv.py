#!/usr/bin/env python3
"""Checks that the workspace's declared `rust-version` is honest.

The oldest toolchain that builds a published crate is at least the newest
`rust-version` among the locked packages it builds (normal and build dependencies,
transitively; dev-dependencies are not built by users). The declared version must be
exactly that (or 1.85, edition 2024's floor, when every dependency asks for less):
higher is a false promise of the other kind. Our own code's use of newer standard
library items is checked by clippy's `incompatible_msrv` lint against the same value.

When a toolchain of the declared version is installed (`rustup toolchain list`), the
workspace is also checked with it (`cargo +VERSION check --workspace --locked`).

Usage: python3 scripts/check_msrv.py
"""

import json
import subprocess
import sys

EDITION_2024_FLOOR = (1, 85, 0)


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


def shown(v):
    return ".".join(str(p) for p in v[:2]) if v[2] == 0 else ".".join(map(str, v))


def main():
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    packages = {p["id"]: p for p in meta["packages"]}
    nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
    members = meta["workspace_members"]
    declared = {packages[m]["rust_version"] for m in members}
    if len(declared) != 1 or None in declared:
        print(f"every member must declare the workspace's rust-version; found {declared}")
        return 1
    declared = version(declared.pop())

    needed, why = EDITION_2024_FLOOR, "edition 2024"
    for member in members:
        seen, stack = set(), [member]
        while stack:
            for dep in nodes[stack.pop()]["deps"]:
                kinds = {k["kind"] for k in dep["dep_kinds"]}
                if kinds & {None, "build"} and dep["pkg"] not in seen:
                    seen.add(dep["pkg"])
                    stack.append(dep["pkg"])
        for pkg_id in seen - set(members):
            pkg = packages[pkg_id]
            if pkg.get("rust_version") and version(pkg["rust_version"]) > needed:
                needed = version(pkg["rust_version"])
                why = f"{pkg['name']} {pkg['version']} (built by {packages[member]['name']})"

    print(f"declared rust-version {shown(declared)}; the locked dependencies need {shown(needed)} ({why})")
    if declared != needed:
        print(f"set [workspace.package] rust-version = \"{shown(needed)}\" in Cargo.toml")
        return 1

    toolchains = subprocess.run(
        ["rustup", "toolchain", "list"], capture_output=True, text=True
    ).stdout.split()
    wanted = shown(declared)
    if any(t.startswith(wanted + "-") or t.startswith(wanted + ".0-") for t in toolchains):
        print(f"building with the {wanted} toolchain")
        subprocess.run(["cargo", f"+{wanted}", "check", "--workspace", "--locked"], check=True)
    else:
        print(f"no {wanted} toolchain installed here: the build check with it is skipped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
