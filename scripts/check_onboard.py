#!/usr/bin/env python3
"""Runs `ise-intune onboard` twice against one simulator: the first run must complete, the second
must write nothing; and `onboard --json` must print the documented report keys.

With `--msal PYTHON`, MSAL for Python (installed for that interpreter) then gets an
Intune token with a policy service node's exported key (scripts/msal_node_token.py).

Usage: scripts/check_onboard.py TARGET_DIR [--msal PYTHON] (where debug/ise-intune and
debug/ise-intune-sim were built).
"""

import json
import os
import subprocess
import sys
import tempfile
import time


def main():
    args = sys.argv[1:]
    msal_python = None
    if "--msal" in args:
        i = args.index("--msal")
        msal_python = args[i + 1]
        del args[i:i + 2]
    target = args[0] if args else "target"
    onboard = os.path.join(target, "debug", "ise-intune")
    sim_bin = os.path.join(target, "debug", "ise-intune-sim")
    with tempfile.TemporaryDirectory() as tmp:
        info = os.path.join(tmp, "sim.json")
        sim = subprocess.Popen([sim_bin, "--info-file", info], stdout=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while not (os.path.exists(info) and os.path.getsize(info) > 0):
                if time.time() > deadline:
                    sys.exit("the simulator wrote no info file")
                time.sleep(0.1)
            runs = []
            for _ in range(2):
                out = subprocess.run([onboard, "--sim-info", info, "--json", "onboard"],
                                     capture_output=True, text=True, timeout=300)
                if out.returncode != 0:
                    sys.exit(f"onboard failed ({out.returncode}): {out.stdout}\n{out.stderr}")
                report = json.loads(out.stdout)
                if report.get("schema_version") is None:
                    sys.exit("the report lacks schema_version")
                runs.append(report)
            if msal_python:
                script = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                      "msal_node_token.py")
                out = subprocess.run([msal_python, script, info], capture_output=True,
                                     text=True, timeout=300)
                if out.returncode != 0:
                    sys.exit(f"MSAL check failed ({out.returncode}): {out.stdout}\n{out.stderr}")
                print(out.stdout.strip())
        finally:
            sim.terminate()
            sim.wait(timeout=30)
    first, second = runs
    for report in runs:
        for key in ("steps", "requests", "verification"):
            if key not in report:
                sys.exit(f"report lacks `{key}`")
        for step in report["steps"]:
            if set(("name", "outcome", "elapsed_ms")) - set(step):
                sys.exit(f"step lacks keys: {step}")
        if set(("reads", "writes")) - set(report["requests"]):
            sys.exit("requests lacks reads/writes")
        if set(("ok", "checks")) - set(report["verification"]):
            sys.exit("verification lacks ok/checks")
    if not (first["complete"] and first["verification"]["ok"]):
        sys.exit(f"first run incomplete: {json.dumps(first, indent=1)}")
    if second["requests"]["writes"] != 0 or not second["complete"]:
        sys.exit(f"second run wrote {second['requests']['writes']} times")
    print(f"onboard: first run {first['requests']['reads']} reads / {first['requests']['writes']} writes, "
          f"second run {second['requests']['reads']} reads / {second['requests']['writes']} writes")


if __name__ == "__main__":
    main()
