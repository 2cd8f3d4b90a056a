"""What the Graph SDK cross-checks share: a simulator started for the length of a
check, and Kiota's token provider over MSAL's client-credentials flow with the
automating identity's secret (the SDKs' own authentication needs azure-identity's
public-cloud hosts). Used by graph_sdk_managed_devices.py and
graph_beta_sdk_evidence.py.
"""

import json
import os
import subprocess
import sys
import tempfile
import time

import msal
import requests
from kiota_abstractions.authentication import AccessTokenProvider, AllowedHostsValidator

GRAPH_SCOPE = "https://graph.microsoft.com/.default"


def fail(what, message):
    sys.exit(f"{what}: {message}")


class MsalTokens(AccessTokenProvider):
    """Kiota's token provider over MSAL's client-credentials flow."""

    def __init__(self, info, hosts):
        http = requests.Session()
        http.trust_env = False
        http.verify = info["ca_pem_path"]
        self.app = msal.ConfidentialClientApplication(
            info["automation"]["client_id"],
            client_credential=info["automation"]["client_secret"],
            authority=f"{info['login_url']}/{info['tenant_id']}",
            http_client=http,
            instance_discovery=False,
        )
        self.validator = AllowedHostsValidator(hosts)

    async def get_authorization_token(self, uri, additional_authentication_context=None):
        token = self.app.acquire_token_for_client(scopes=[GRAPH_SCOPE])
        if "access_token" not in token:
            fail("graph sdk check", f"no Graph token: {token.get('error_description')}")
        return token["access_token"]

    def get_allowed_hosts_validator(self):
        return self.validator


def with_simulator(binary, extra_args, check):
    """Starts the simulator `binary` with `extra_args`, calls `check(info)` with its
    info file's content, and stops it."""
    with tempfile.TemporaryDirectory() as tmp:
        info_file = os.path.join(tmp, "sim.json")
        sim = subprocess.Popen([binary, "--info-file", info_file, *extra_args],
                               stdout=subprocess.DEVNULL)
        try:
            deadline = time.time() + 60
            while not (os.path.exists(info_file) and os.path.getsize(info_file) > 0):
                if time.time() > deadline:
                    fail("graph sdk check", "the simulator wrote no info file")
                time.sleep(0.1)
            with open(info_file) as f:
                check(json.load(f))
        finally:
            sim.terminate()
            sim.wait(timeout=30)
