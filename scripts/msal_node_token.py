#!/usr/bin/env python3
"""Microsoft's own MSAL for Python, as an independent client, against an onboarded
simulator: a policy service node's Admin certificate and key, exported from ISE's API,
get an Intune token through MSAL's certificate credential, and Intune answers `mdminfo`
to it.

MSAL (pinned in .ci/run) builds its client assertion its own way: `x5t` in base64url
with `=` padding and `iat`/`exp` that may carry fractions of a second. Entra accepts
them; so must the simulator.

Usage: scripts/msal_node_token.py SIM_INFO_JSON [APP_DISPLAY_NAME]
(after `onboard` completed against that simulator).
"""

import base64
import hashlib
import io
import json
import sys
import zipfile

import msal
import requests
from cryptography.hazmat.primitives import serialization

INTUNE_SCOPE = "https://api.manage.microsoft.com//.default"
GRAPH_SCOPE = "https://graph.microsoft.com/.default"
EXPORT_PASSWORD = "Msal4check"


def fail(message):
    sys.exit(f"msal check: {message}")


def session(info):
    s = requests.Session()
    # REQUESTS_CA_BUNDLE in the environment would override the session's CA file.
    s.trust_env = False
    s.verify = info["ca_pem_path"]
    return s


def app_client_id(info, http, display_name):
    """Finds the integration app with MSAL's secret credential and Graph."""
    automation = msal.ConfidentialClientApplication(
        info["automation"]["client_id"],
        client_credential=info["automation"]["client_secret"],
        authority=f"{info['login_url']}/{info['tenant_id']}",
        http_client=http,
        instance_discovery=False,
    )
    token = automation.acquire_token_for_client(scopes=[GRAPH_SCOPE])
    if "access_token" not in token:
        fail(f"no Graph token with the automation secret: {token.get('error_description')}")
    r = http.get(
        f"{info['graph_url']}/applications",
        params={"$filter": f"displayName eq '{display_name}'"},
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=30,
    )
    apps = r.json().get("value", [])
    if r.status_code != 200 or len(apps) != 1:
        fail(f"expected one application named {display_name!r}: {r.status_code} {r.text[:300]}")
    return apps[0]["appId"]


def node_key(info):
    """The last policy service node's Admin certificate and private key, from ISE."""
    ise = info["ise"]
    auth = (ise["username"], ise["password"])
    headers = {"Accept": "application/json"}
    # ISE's self-signed Admin certificate is the one trust anchor of this session.
    ise_http = requests.Session()
    ise_http.trust_env = False
    ise_http.verify = ise["admin_cert_pem_path"]
    nodes = ise_http.get(f"{ise['url']}/api/v1/deployment/node", auth=auth, headers=headers,
                         timeout=30).json()["response"]
    psns = [n for n in nodes if "Session" in n.get("services", [])]
    if not psns:
        fail(f"no policy service node in {nodes}")
    host = psns[-1]["hostname"]
    certs = ise_http.get(f"{ise['url']}/api/v1/certs/system-certificate/{host}", auth=auth,
                         headers=headers, timeout=30).json()["response"]
    admin = next(c for c in certs if "Admin" in c["usedBy"])
    r = ise_http.post(
        f"{ise['url']}/api/v1/certs/system-certificate/export",
        auth=auth,
        headers=headers,
        json={"id": admin["id"], "hostName": host, "export": "CERTIFICATE_WITH_PRIVATE_KEY",
              "password": EXPORT_PASSWORD},
        timeout=30,
    )
    if r.status_code != 200:
        fail(f"export of {host}'s key: {r.status_code} {r.text[:300]}")
    entries = zipfile.ZipFile(io.BytesIO(r.content))
    cert_pem = key_pem = None
    for name in entries.namelist():
        text = entries.read(name).decode()
        if "CERTIFICATE" in text:
            cert_pem = text
        elif "PRIVATE KEY" in text:
            key_pem = text
    if not (cert_pem and key_pem):
        fail(f"the export of {host} holds {entries.namelist()}")
    key = serialization.load_pem_private_key(key_pem.encode(), EXPORT_PASSWORD.encode())
    plain_key = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()).decode()
    body = "".join(line for line in cert_pem.splitlines() if "-----" not in line)
    thumbprint = hashlib.sha1(base64.b64decode(body)).hexdigest()
    return host, plain_key, thumbprint


def main():
    if len(sys.argv) < 2:
        fail("usage: msal_node_token.py SIM_INFO_JSON [APP_DISPLAY_NAME]")
    with open(sys.argv[1]) as f:
        info = json.load(f)
    display_name = sys.argv[2] if len(sys.argv) > 2 else "Cisco ISE Intune integration"
    http = session(info)
    client_id = app_client_id(info, http, display_name)
    host, key_pem, thumbprint = node_key(info)
    node = msal.ConfidentialClientApplication(
        client_id,
        client_credential={"private_key": key_pem, "thumbprint": thumbprint},
        authority=f"{info['login_url']}/{info['tenant_id']}",
        http_client=http,
        instance_discovery=False,
    )
    token = node.acquire_token_for_client(scopes=[INTUNE_SCOPE])
    if "access_token" not in token:
        fail(f"MSAL got no Intune token with {host}'s key: {token.get('error')}: "
             f"{token.get('error_description')}")
    # Access tokens are opaque to clients: Intune accepting it is the proof of audience
    # and consent.
    base = (f"{info['intune_url']}/TrafficGateway/TrafficRoutingService/ResourceAccess/"
            "ComplianceRetrievalService")
    auth = {"Authorization": f"Bearer {token['access_token']}"}
    r = http.get(f"{base}/ciscoise/mdminfo", params={"ise_api_version": "3"}, headers=auth,
                 timeout=30)
    if r.status_code != 200 or "<api_version>3</api_version>" not in r.text:
        fail(f"mdminfo with MSAL's token: {r.status_code} {r.text[:300]}")
    # ISE's poll of non-compliant devices, as captured from the real service.
    r = http.get(f"{base}/cisco/devices/", headers=auth, timeout=30, params={
        "paging": "0", "querycriteria": "compliance", "value": "false",
        "deviceidentifier": "guid", "filter": "all"})
    if r.status_code != 200 or "<Compliance><status>false</status></Compliance>" not in r.text:
        fail(f"non-compliant poll with MSAL's token: {r.status_code} {r.text[:300]}")
    print(f"msal {msal.__version__}: {host}'s exported key got an Intune token "
          "and Intune answered mdminfo v3 and the non-compliant poll")


if __name__ == "__main__":
    main()
