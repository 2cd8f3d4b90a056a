#!/usr/bin/env python3
"""Microsoft's Graph SDK for Python (msgraph-sdk, pinned in scripts/test.sh), as an
independent client, reads the simulator's managed devices the way the attribute bridge
does: `GET /deviceManagement/managedDevices` with `$select` and `$top=1000`, every page
through `@odata.nextLink` with the SDK's own PageIterator, then the incremental read
(`$filter=lastSyncDateTime ge …`); and Intune's compliance settings the way doctor
does (`GET /deviceManagement?$select=settings`). The SDK deserialises each page into its generated
`ManagedDevice` model: a property the simulator names or types differently from Graph
arrives as None (or fails to parse), and the script says which.

The token comes from MSAL for Python with the automating identity's secret (the SDK's
own authentication needs azure-identity's public-cloud hosts); the SDK's request
adapter is pointed at the simulator's Graph and trusts the simulator's CA.

Usage: scripts/graph_sdk_managed_devices.py SIMULATOR_BINARY [DEVICES]
(starts the simulator with DEVICES managed devices, 2,500 unless given, and stops it).
"""

import asyncio
import datetime
import sys
from urllib.parse import urlparse

import httpx
from kiota_abstractions.authentication import BaseBearerTokenAuthenticationProvider
from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.device_management.managed_devices.managed_devices_request_builder import \
    ManagedDevicesRequestBuilder
from msgraph_core import GraphClientFactory
from msgraph_core.tasks.page_iterator import PageIterator
from sim_graph import MsalTokens, with_simulator

# What the bridge selects (intune-client's ManagedDeviceQuery).
SELECT = ["id", "deviceName", "managedDeviceOwnerType", "operatingSystem", "osVersion",
          "lastSyncDateTime", "complianceState", "jailBroken", "isEncrypted",
          "azureADDeviceId", "model", "manufacturer", "serialNumber", "wiFiMacAddress",
          "ethernetMacAddress", "complianceGracePeriodExpirationDateTime"]


def fail(message):
    sys.exit(f"graph sdk check: {message}")


def check_device(d):
    """Every selected property present and of Graph's type, as the SDK parsed it."""
    missing = [name for name, value in [
        ("id", d.id), ("managedDeviceOwnerType", d.managed_device_owner_type),
        ("operatingSystem", d.operating_system), ("osVersion", d.os_version),
        ("lastSyncDateTime", d.last_sync_date_time), ("complianceState", d.compliance_state),
        ("jailBroken", d.jail_broken), ("isEncrypted", d.is_encrypted),
        ("model", d.model), ("manufacturer", d.manufacturer),
        ("serialNumber", d.serial_number), ("wiFiMacAddress", d.wi_fi_mac_address),
    ] if value is None]
    if missing:
        fail(f"device {d.id}: the SDK read no {', '.join(missing)}")
    if not isinstance(d.last_sync_date_time, datetime.datetime):
        fail(f"device {d.id}: lastSyncDateTime is not a DateTimeOffset")
    if not isinstance(d.is_encrypted, bool):
        fail(f"device {d.id}: isEncrypted is not a Boolean")
    # Enums the SDK knows: an unknown member would not have parsed.
    if d.compliance_state.value not in ("compliant", "noncompliant", "inGracePeriod",
                                        "unknown", "conflict", "error", "configManager"):
        fail(f"device {d.id}: complianceState {d.compliance_state}")
    if d.managed_device_owner_type.value not in ("company", "personal", "unknown"):
        fail(f"device {d.id}: managedDeviceOwnerType {d.managed_device_owner_type}")


async def read_all(client, adapter, query):
    config = RequestConfiguration(query_parameters=query)
    first = await client.device_management.managed_devices.get(request_configuration=config)
    if first is None:
        fail("no first page")
    devices = []

    def take(d):
        devices.append(d)
        return True

    # The SDK's own paging (pages parsed as the first one's type,
    # ManagedDeviceCollectionResponse): the first page's items, then each nextLink's.
    iterator = PageIterator(first, adapter)
    await iterator.iterate(take)
    return devices, first


async def check(info, expected):
    graph = urlparse(info["graph_url"])
    auth = BaseBearerTokenAuthenticationProvider(MsalTokens(info, [graph.hostname]))
    http = GraphClientFactory.create_with_default_middleware(
        client=httpx.AsyncClient(verify=info["ca_pem_path"], trust_env=False, timeout=60))
    adapter = GraphRequestAdapter(auth, client=http)
    adapter.base_url = info["graph_url"]
    client = GraphServiceClient(request_adapter=adapter)

    query = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(
        select=SELECT, top=1000)
    devices, first = await read_all(client, adapter, query)
    if first.odata_next_link is None and expected > 1000:
        fail("a first page of a tenant over 1,000 devices carries no @odata.nextLink")
    if len(first.value) != min(expected, 1000):
        fail(f"the first page holds {len(first.value)} devices, not {min(expected, 1000)}")
    if len(devices) != expected:
        fail(f"the SDK read {len(devices)} devices through every page, not {expected}")
    if len({d.id for d in devices}) != expected:
        fail("a device was listed twice across pages")
    for d in devices:
        check_device(d)

    # The incremental read the bridge makes: devices checked in since a time.
    latest = max(d.last_sync_date_time for d in devices)
    since = latest - datetime.timedelta(minutes=30)
    stamp = since.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    query = ManagedDevicesRequestBuilder.ManagedDevicesRequestBuilderGetQueryParameters(
        select=SELECT, top=1000, filter=f"lastSyncDateTime ge {stamp}")
    recent, _ = await read_all(client, adapter, query)
    # Devices go on checking in on the simulated clock between the two reads: the
    # filtered read holds every device the full read saw checked in since then, and
    # none that checked in earlier.
    wanted = {d.id for d in devices if d.last_sync_date_time >= since}
    if not wanted <= {d.id for d in recent}:
        fail(f"the filtered read missed {len(wanted - {d.id for d in recent})} devices "
             f"checked in since {stamp}")
    if any(d.last_sync_date_time < since for d in recent):
        fail(f"the filtered read listed a device checked in before {stamp}")
    if len(recent) >= expected:
        fail("the filtered read listed the whole tenant")
    # Intune's compliance settings (v1.0 deviceManagement, $select=settings), parsed
    # into the SDK's DeviceManagementSettings.
    from msgraph.generated.device_management.device_management_request_builder import \
        DeviceManagementRequestBuilder
    dm_query = DeviceManagementRequestBuilder.DeviceManagementRequestBuilderGetQueryParameters(
        select=["settings"])
    dm = await client.device_management.get(
        request_configuration=RequestConfiguration(query_parameters=dm_query))
    settings = dm.settings if dm else None
    if settings is None or settings.secure_by_default is not True \
            or settings.device_compliance_checkin_threshold_days != 30:
        fail(f"deviceManagement settings as the SDK read them: {settings}")
    # The profiles Intune applied to one Windows device (v1.0
    # deviceConfigurationStates), parsed into the SDK's DeviceConfigurationState.
    windows = next(d for d in devices if d.operating_system == "Windows")
    states = await client.device_management.managed_devices.by_managed_device_id(
        windows.id).device_configuration_states.get()
    names = sorted(s.display_name for s in (states.value if states else []))
    if names != ["S/MIME signing - Windows (PKCS)", "Wi-Fi 802.1X - Windows (SCEP)"] \
            or any(s.state is None or s.platform_type is None for s in states.value):
        fail(f"the Windows device's configuration states as the SDK read them: {states}")
    print(f"msgraph-sdk: read {len(devices)} managed devices through every page, each "
          f"with the bridge's properties of Graph's types, the {len(recent)} checked "
          f"in since {stamp} by $filter, and one device's {len(names)} profile states")


def main():
    if len(sys.argv) < 2:
        fail("usage: graph_sdk_managed_devices.py SIMULATOR_BINARY [DEVICES]")
    expected = int(sys.argv[2]) if len(sys.argv) > 2 else 2500
    roles = ",".join(["Application.ReadWrite.All", "AppRoleAssignment.ReadWrite.All",
                      "Application.Read.All", "get_device_compliance",
                      "DeviceManagementManagedDevices.Read.All",
                      "DeviceManagementConfiguration.Read.All"])
    with_simulator(sys.argv[1], ["--managed-devices", str(expected), "--automation-roles", roles],
                   lambda info: asyncio.run(check(info, expected)))


if __name__ == "__main__":
    main()
