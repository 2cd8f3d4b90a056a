#!/usr/bin/env bash
# The whole test suite, with what it needs: the README's test command.
#
# Installs what the tests call when it is missing, saying what and why first, with
# Debian's packages and none of their recommendations: openssl and ca-certificates for
# the certificate cross-checks, chromium for the status page's test, prometheus for
# `promtool` (the alert rules' unit tests), python3 and python3-venv for Microsoft's
# MSAL and Graph SDK for Python. Then runs every test binary to its end
# (--no-fail-fast), the rules' tests, and the cross-checks against OpenSSL, MSAL for
# Python and the Graph SDK for Python. Temporary files go under the target directory
# (TMPDIR), removed at the end: nothing is left in /tmp.
# Exits non-zero on any failure. Extra arguments go to `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
why=()
command -v openssl >/dev/null 2>&1 || { need+=(openssl); why+=("openssl: certificate cross-checks"); }
ls /etc/ssl/certs/*.pem >/dev/null 2>&1 || { need+=(ca-certificates); why+=("ca-certificates: the real roots"); }
command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { need+=(chromium); why+=("chromium: the status page in a headless browser"); }
command -v promtool >/dev/null 2>&1 || { need+=(prometheus); why+=("prometheus: promtool, the alert rules' unit tests"); }
command -v python3 >/dev/null 2>&1 || { need+=(python3); why+=("python3: Microsoft's clients as cross-checks"); }
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || { need+=(python3-venv); why+=("python3-venv: their virtual environment"); }
if [ "${#need[@]}" -gt 0 ]; then
  echo "the tests need these Debian packages (installed without recommendations):"
  printf '  %s\n' "${why[@]}"
  install=(apt-get install -y -qq --no-install-recommends "${need[@]}")
  if [ "$(id -u)" -eq 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive "${install[@]}"
  elif command -v sudo >/dev/null 2>&1; then
    echo "installing them with sudo"
    sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive "${install[@]}"
  else
    echo "install them with: apt-get install --no-install-recommends ${need[*]}" >&2
    exit 1
  fi
fi

# Where cargo builds (CARGO_TARGET_DIR when set).
target=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
# The tests' temporary files (and Chromium's profile) in a folder of their own.
export TMPDIR="$target/test-tmp"
rm -rf "$TMPDIR" && mkdir -p "$TMPDIR"
trap 'rm -rf "$TMPDIR"' EXIT

status=0
echo "== cargo test --workspace --no-fail-fast"
cargo test --workspace --no-fail-fast "$@" || status=1

echo "== the alert rules: promtool check rules, promtool test rules"
(cd deploy/monitoring && promtool check rules rules.yaml && promtool test rules rules_test.yaml) || status=1

echo "== cert_inspect against openssl"
cargo build -q --example cert_inspect
python3 scripts/crosscheck_cert_inspect.py "$target/debug/examples/cert_inspect" || status=1

echo "== onboard against a running simulator, twice; then MSAL for Python with a node's key"
cargo build -q -p ise-intune-cli --bin ise-intune
cargo build -q -p ise-intune-simulator --bin ise-intune-sim
# Microsoft's MSAL and Graph SDKs (v1.0 and beta) for Python, pinned, in a virtual
# environment under the target directory.
py_env="$target/python-venv"
# The SDKs are large (about 600 MB): installed without precompiled bytecode.
if ! "$py_env/bin/python" -c "import msal, importlib.metadata as m; assert msal.__version__ == '1.39.0'; assert m.version('msgraph-sdk') == '1.65.0'; assert m.version('msgraph-beta-sdk') == '1.66.0'" 2>/dev/null; then
  python3 -m venv "$py_env"
  "$py_env/bin/pip" install -q --no-compile --disable-pip-version-check \
    "msal==1.39.0" "msgraph-sdk==1.65.0" "msgraph-beta-sdk==1.66.0"
fi
python3 scripts/check_onboard.py "$target" --msal "$py_env/bin/python" || status=1

echo "== Microsoft's Graph SDKs for Python read the simulated managed devices and evidence"
"$py_env/bin/python" scripts/graph_sdk_managed_devices.py "$target/debug/ise-intune-sim" || status=1
"$py_env/bin/python" scripts/graph_beta_sdk_evidence.py "$target/debug/ise-intune-sim" || status=1

exit "$status"
