#!/usr/bin/env python3
"""Microsoft's Graph **beta** SDK for Python (msgraph-beta-sdk, pinned in
scripts/test.sh), as an independent client, reads the evidence doctor reads from beta:
Intune's SCEP and PKCS certificate profiles (`GET /beta/deviceManagement/
deviceConfigurations`, each parsed into its own generated type by `@odata.type`) and
Entra's service-principal sign-ins (`GET /beta/auditLogs/signIns` with the filter the
library sends). A type, property or enum value the simulator gives unlike Graph would
not parse into the SDK's models.

Usage: scripts/graph_beta_sdk_evidence.py SIMULATOR_BINARY
(starts the simulator with the evidence grants, and stops it).
"""

import asyncio
import datetime
import sys
from urllib.parse import urlparse

import httpx
from kiota_abstractions.authentication import BaseBearerTokenAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph_beta import GraphRequestAdapter, GraphServiceClient
from msgraph_beta.generated.audit_logs.sign_ins.sign_ins_request_builder import \
    SignInsRequestBuilder
from msgraph_core import APIVersion, GraphClientFactory
from sim_graph import MsalTokens, with_simulator

GUID_URI = "ID:Microsoft Endpoint Manager:GUID:{{DeviceId}}"
# The simulator's seeded profiles, as the SDK must type them.
SEEDED = {
    "Wi-Fi 802.1X - Windows (SCEP)": "Windows81SCEPCertificateProfile",
    "Wi-Fi 802.1X - iOS/iPadOS (SCEP)": "IosScepCertificateProfile",
    "Wi-Fi 802.1X - Android work profile (PKCS)": "AndroidWorkProfilePkcsCertificateProfile",
    "S/MIME signing - Windows (PKCS)": "Windows10PkcsCertificateProfile",
}


def fail(message):
    sys.exit(f"graph beta sdk check: {message}")


async def check(info):
    graph = urlparse(info["graph_url"])
    auth = BaseBearerTokenAuthenticationProvider(MsalTokens(info, [graph.hostname]))
    http = GraphClientFactory.create_with_default_middleware(
        api_version=APIVersion.beta,
        client=httpx.AsyncClient(verify=info["ca_pem_path"], trust_env=False, timeout=60))
    adapter = GraphRequestAdapter(auth, client=http)
    if not info["graph_url"].endswith("/v1.0"):
        fail(f"unexpected Graph URL {info['graph_url']}")
    adapter.base_url = info["graph_url"][: -len("/v1.0")] + "/beta"
    client = GraphServiceClient(request_adapter=adapter)

    configs = await client.device_management.device_configurations.get()
    profiles = {c.display_name: c for c in (configs.value if configs else [])}
    for name, kind in SEEDED.items():
        p = profiles.get(name)
        if p is None:
            fail(f"no profile {name!r} in {sorted(profiles)}")
        if type(p).__name__ != kind:
            fail(f"{name!r} parsed as {type(p).__name__}, not {kind}")
        if p.custom_subject_alternative_names is None:
            fail(f"{name!r}: no customSubjectAlternativeNames")
    guid = [n for n, p in profiles.items()
            # sanType is a flags enum: the SDK gives a list of members.
            if any(s.name == GUID_URI
                   and [t.value for t in s.san_type] == ["universalResourceIdentifier"]
                   for s in p.custom_subject_alternative_names)]
    if len(guid) != 3:
        fail(f"the profiles carrying the GUID URI: {guid}")
    windows = profiles["Wi-Fi 802.1X - Windows (SCEP)"]
    if [k.object_identifier for k in windows.extended_key_usages] != ["1.3.6.1.5.5.7.3.2"]:
        fail(f"Windows SCEP key usages: {windows.extended_key_usages}")

    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=24))
    app_id = info["automation"]["client_id"]
    query = SignInsRequestBuilder.SignInsRequestBuilderGetQueryParameters(
        filter=("signInEventTypes/any(t: t eq 'servicePrincipal') and "
                f"appId eq '{app_id}' and createdDateTime ge "
                f"{since.strftime('%Y-%m-%dT%H:%M:%SZ')}"),
        top=1000)
    sign_ins = await client.audit_logs.sign_ins.get(
        request_configuration=RequestConfiguration(query_parameters=query))
    records = sign_ins.value if sign_ins else []
    if not records:
        fail("no service-principal sign-in of the automating identity")
    own = records[0]
    if own.app_id != app_id or own.status.error_code != 0 \
            or own.client_credential_type.value != "clientSecret" \
            or not isinstance(own.created_date_time, datetime.datetime):
        fail(f"the sign-in as the SDK read it: {own}")
    print(f"msgraph-beta-sdk: read {len(profiles)} certificate profiles into their own "
          f"types ({len(guid)} with the GUID URI) and {len(records)} service-principal "
          "sign-in(s) of the automating identity")


def main():
    if len(sys.argv) < 2:
        fail("usage: graph_beta_sdk_evidence.py SIMULATOR_BINARY")
    roles = ",".join(["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                      "Application.Read.All", "get_device_compliance",
                      "DeviceManagementConfiguration.Read.All", "AuditLog.Read.All"])
    with_simulator(sys.argv[1], ["--automation-roles", roles],
                   lambda info: asyncio.run(check(info)))


if __name__ == "__main__":
    main()
