#!/usr/bin/env python3
"""Cross-checks `cert_inspect --json` against OpenSSL over the system CA bundle.

Runs the example over every /etc/ssl/certs/*.pem, then asks `openssl x509` for each
file's SHA-1 and SHA-256 fingerprints and serial, and fails on any difference, on a
missing or extra JSON key, or if a file that cannot be parsed is not reported with exit
status 1. Usage: scripts/crosscheck_cert_inspect.py [PATH_TO_CERT_INSPECT_BINARY]
"""

import glob
import json
import os
import subprocess
import sys
import tempfile

KEYS = {
    "file", "subject", "common_name", "issuer", "serial", "not_before", "not_after",
    "is_ca", "sha1", "sha256", "graph_key_identifier", "x5t", "x5t_s256",
    "dns_names", "san_uris", "intune_device",
}


def openssl_san(path):
    """(DNS names, URIs) of the first certificate's subjectAltName, as openssl prints
    them (entries separated by ", "; a URI may hold a comma but not ", ")."""
    out = subprocess.run(
        ["openssl", "x509", "-in", path, "-noout", "-ext", "subjectAltName"],
        capture_output=True, text=True,
    ).stdout
    lines = out.strip().splitlines()[1:]
    entries = [e.strip() for line in lines for e in line.split(", ")]
    dns = [e[4:] for e in entries if e.startswith("DNS:")]
    uris = [e[4:] for e in entries if e.startswith("URI:")]
    return dns, uris


def openssl(path, *args):
    out = subprocess.run(
        ["openssl", "x509", "-in", path, "-noout", *args],
        check=True, capture_output=True, text=True,
    ).stdout.strip()
    return out.split("=", 1)[1].replace(":", "").upper()


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/examples/cert_inspect"
    files = sorted(glob.glob("/etc/ssl/certs/*.pem"))
    if not files:
        sys.exit("no /etc/ssl/certs/*.pem: install ca-certificates")
    # Device certificates as Intune issues them: SAN URIs with the device GUID and SID.
    files += sorted(glob.glob("intune-integration/tests/data/device-*.pem"))
    run = subprocess.run([binary, "--json", *files], capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"cert_inspect failed ({run.returncode}): {run.stderr}")
    items = json.loads(run.stdout)
    by_file = {}
    for item in items:
        if set(item) != KEYS:
            sys.exit(f"keys differ for {item.get('file')}: {sorted(set(item) ^ KEYS)}")
        by_file.setdefault(item["file"], []).append(item)
    errors = 0
    for path in files:
        got = by_file.get(path)
        if not got:
            print(f"{path}: missing from output")
            errors += 1
            continue
        # openssl x509 reads the first certificate of a file.
        first = got[0]
        want = {
            "sha1": openssl(path, "-fingerprint", "-sha1"),
            "sha256": openssl(path, "-fingerprint", "-sha256"),
            "serial": openssl(path, "-serial").lstrip("0") or "0",
        }
        for key, value in want.items():
            mine = first[key].lstrip("0") if key == "serial" else first[key]
            if (mine or "0") != value:
                print(f"{path}: {key} {first[key]} != openssl {value}")
                errors += 1
        dns, uris = openssl_san(path)
        if (first["dns_names"], first["san_uris"]) != (dns, uris):
            print(f"{path}: SAN {first['dns_names']} {first['san_uris']} != openssl {dns} {uris}")
            errors += 1

    with tempfile.TemporaryDirectory() as tmp:
        bad = os.path.join(tmp, "bad.pem")
        with open(bad, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\n@@@\n-----END CERTIFICATE-----\n")
        run = subprocess.run([binary, "--json", bad, files[0]], capture_output=True, text=True)
        printed = json.loads(run.stdout)
        if run.returncode != 1 or bad not in run.stderr or len(printed) != 1:
            print(f"bad file handling wrong: rc={run.returncode} stderr={run.stderr!r}")
            errors += 1

    if errors:
        sys.exit(f"{errors} difference(s) from openssl")
    device = by_file.get("intune-integration/tests/data/device-endpoint-manager.pem", [{}])[0]
    if device.get("intune_device", {}).get("guid") != "6f9c2c3a-1b2d-4e5f-8a9b-0c1d2e3f4a5b":
        sys.exit(f"the device GUID was not read from the SAN URI: {device}")
    print(f"cert_inspect agrees with openssl on {len(files)} files ({len(items)} certificates)")


if __name__ == "__main__":
    main()
