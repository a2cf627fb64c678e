"""A deterministic Azure estate in Azure Resource Manager (ARM) shape, for the demo cloud API.

Resources follow the list examples of the public Azure REST API specifications (see
docs/cloud.md): ``id``, ``name``, ``type``, ``location``, ``tags`` and camelCase
``properties``; references are ids, and about one reference in five differs in case from
the id it points to (ARM ids are case-insensitive, and Azure itself returns such ids).
Pure functions: the same seed always gives equal, freshly built lists.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from functools import cache
from typing import Any

TENANT_ID = "5f2b6d1e-0000-4000-8000-00000000de40"
REGIONS = ["westeurope", "northeurope", "francecentral", "germanywestcentral", "swedencentral"]
TEAMS = ["platform", "data", "payments", "web", "security", "ml"]
COST_CENTERS = ["CC-1001", "CC-1002", "CC-2001", "CC-3005", "CC-4200"]
VM_SIZES = ["Standard_B2s", "Standard_D2s_v5", "Standard_D4s_v5", "Standard_E8s_v5",
            "Standard_F4s_v2", "Standard_D8as_v5"]  # fmt: skip
VM_ROLES = ["web", "api", "db", "cache", "worker", "batch", "gw", "etl"]
OS_DISK_TYPES = ["Premium_LRS", "StandardSSD_LRS", "Standard_LRS"]
PATCH_MODES = ["AutomaticByPlatform", "ImageDefault"]
HOP_TYPES = ["VirtualAppliance", "Internet", "VnetLocal", "VirtualNetworkGateway", "None"]
SUBNET_NAMES = ["frontend", "backend", "data", "mgmt", "AzureFirewallSubnet", "aks"]
SUBSCRIPTION_NAMES = [
    ("kspyder-prod", "prod", "westeurope"),
    ("kspyder-staging", "staging", "northeurope"),
    ("kspyder-dev", "dev", "francecentral"),
    ("kspyder-shared", "prod", "westeurope"),
]
COST_DAYS = 90
COST_END = dt.date(2025, 12, 31)
VNET_COUNT = 200
VM_COUNT = 600
COST_COLUMNS = [
    ("PreTaxCost", "Number"),
    ("UsageDate", "Number"),
    ("ResourceId", "String"),
    ("ServiceName", "String"),
    ("ResourceGroupName", "String"),
    ("Currency", "String"),
]
MIXED_CASE_SHARE = 0.2
CREATED_FROM = dt.datetime(2025, 1, 1)


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def case_variant(resource_id: str) -> str:
    """The same ARM id as Azure sometimes spells it: ``resourcegroups`` and the group upper."""
    head, sep, tail = resource_id.partition("/resourceGroups/")
    if not sep:
        return resource_id.upper()
    group, _, rest = tail.partition("/")
    return f"{head}/resourcegroups/{group.upper()}/{rest}"


def _ref(rng: random.Random, resource_id: str) -> dict[str, str]:
    """A reference ``{"id": ...}``; one in five differs in case from the resource's id."""
    return {"id": case_variant(resource_id) if rng.random() < MIXED_CASE_SHARE else resource_id}


def subscriptions(seed: int = 42) -> list[dict[str, Any]]:
    """The 4 subscriptions, as ``GET /subscriptions`` lists them."""
    rng = random.Random(f"subscriptions-{seed}")
    result = []
    for i, (name, env, _) in enumerate(SUBSCRIPTION_NAMES):
        sub = _uuid(rng)
        result.append(
            {
                "id": f"/subscriptions/{sub}",
                "authorizationSource": "RoleBased",
                "managedByTenants": [],
                "subscriptionId": sub,
                "tenantId": TENANT_ID,
                "displayName": name,
                "state": "Enabled",
                "subscriptionPolicies": {
                    "locationPlacementId": "Public_2014-09-01",
                    "quotaId": "EnterpriseAgreement_2014-09-01",
                    "spendingLimit": "Off",
                },
                "tags": {"env": env, "owner": "platform", "CostCenter": COST_CENTERS[i]},
            }
        )
    return result


def _route_table(
    rng: random.Random, rg_id: str, name: str, location: str, octet: int
) -> dict[str, Any]:
    rt_id = f"{rg_id}/providers/Microsoft.Network/routeTables/{name}"
    routes = []
    for k in range(rng.randint(1, 4)):
        hop = rng.choice(HOP_TYPES)
        props: dict[str, Any] = {
            "provisioningState": "Succeeded",
            "addressPrefix": "0.0.0.0/0" if k == 0 else f"10.{rng.randrange(VNET_COUNT)}.0.0/16",
            "nextHopType": hop,
        }
        if hop == "VirtualAppliance":
            props["nextHopIpAddress"] = f"10.{octet}.255.4"
        routes.append({"name": f"route{k + 1}", "id": f"{rt_id}/routes/route{k + 1}",
                       "properties": props})  # fmt: skip
    return {
        "name": name,
        "id": rt_id,
        "type": "Microsoft.Network/routeTables",
        "location": location,
        "tags": {},
        "properties": {
            "provisioningState": "Succeeded",
            "disableBgpRoutePropagation": rng.random() < 0.3,
            "routes": routes,
            "subnets": [],
        },
    }


@cache
def _network(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(f"network-{seed}")
    subs = subscriptions(seed)
    vnets: list[dict[str, Any]] = []
    tables: list[dict[str, Any]] = []
    for i in range(VNET_COUNT):
        sub = subs[i % len(subs)]
        env = sub["tags"]["env"]
        home = SUBSCRIPTION_NAMES[i % len(subs)][2]
        location = home if rng.random() < 0.6 else rng.choice(REGIONS)
        team = rng.choice(TEAMS)
        rg_id = f"{sub['id']}/resourceGroups/rg-{team}-{env}-{location}"
        name = f"vnet-{team}-{env}-{i:03d}"
        vnet_id = f"{rg_id}/providers/Microsoft.Network/virtualNetworks/{name}"
        own = [_route_table(rng, rg_id, f"rt-{name}-{n}", location, i)
               for n in range(1 if rng.random() < 0.4 else 2)]  # fmt: skip
        tables.extend(own)
        subnets = []
        for j, subnet_name in enumerate(rng.sample(SUBNET_NAMES, rng.randint(2, 5))):
            subnet_id = f"{vnet_id}/subnets/{subnet_name}"
            props: dict[str, Any] = {"provisioningState": "Succeeded",
                                     "addressPrefix": f"10.{i}.{j}.0/24"}  # fmt: skip
            if rng.random() < 0.75:
                table = rng.choice(own)
                props["routeTable"] = _ref(rng, table["id"])
                table["properties"]["subnets"].append(_ref(rng, subnet_id))
            subnets.append({"name": subnet_name, "id": subnet_id,
                            "type": "Microsoft.Network/virtualNetworks/subnets",
                            "properties": props})  # fmt: skip
        vnets.append(
            {
                "name": name,
                "id": vnet_id,
                "type": "Microsoft.Network/virtualNetworks",
                "location": location,
                "tags": {"env": env, "owner": team, "CostCenter": rng.choice(COST_CENTERS)},
                "properties": {
                    "provisioningState": "Succeeded",
                    "addressSpace": {"addressPrefixes": [f"10.{i}.0.0/16"]},
                    "subnets": subnets,
                    "virtualNetworkPeerings": [],
                    "enableDdosProtection": False,
                },
            }
        )
    return vnets, tables


def virtual_networks(seed: int = 42) -> list[dict[str, Any]]:
    """200 virtual networks with their subnets (each maybe referencing a route table by id)."""
    return _copy(_network(seed)[0])


def route_tables(seed: int = 42) -> list[dict[str, Any]]:
    """The route tables (1 or 2 per virtual network) with their routes and subnet back-refs."""
    return _copy(_network(seed)[1])


def subnets(seed: int = 42) -> list[dict[str, Any]]:
    """Every subnet of every virtual network, as ``GET .../virtualNetworks/{name}/subnets``."""
    return [s for vnet in virtual_networks(seed) for s in vnet["properties"]["subnets"]]


def _copy(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    import copy

    return copy.deepcopy(items)


def _nic(rng: random.Random, vm: dict[str, Any], n: int, subnet_id: str, ip: str,
         accelerated: bool) -> dict[str, Any]:  # fmt: skip
    nic_id = vm["id"].split("/providers/")[0] + (
        f"/providers/Microsoft.Network/networkInterfaces/{vm['name']}-nic{n}"
    )
    return {
        "name": f"{vm['name']}-nic{n}",
        "id": nic_id,
        "type": "Microsoft.Network/networkInterfaces",
        "location": vm["location"],
        "tags": dict(vm["tags"]),
        "properties": {
            "provisioningState": "Succeeded",
            "ipConfigurations": [
                {
                    "name": "ipconfig1",
                    "id": f"{nic_id}/ipConfigurations/ipconfig1",
                    "properties": {
                        "privateIPAddress": ip,
                        "privateIPAllocationMethod": "Dynamic",
                        "privateIPAddressVersion": "IPv4",
                        "subnet": _ref(rng, subnet_id),
                        "primary": True,
                    },
                }
            ],
            "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
            "macAddress": f"00-0D-3A-{rng.randrange(256):02X}-{n:02X}-{rng.randrange(256):02X}",
            "enableAcceleratedNetworking": accelerated,
            "enableIPForwarding": rng.random() < 0.15,
            "primary": n == 0,
            "virtualMachine": _ref(rng, vm["id"]),
        },
    }


@cache
def _compute(seed: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(f"compute-{seed}")
    vnets = virtual_networks(seed)
    next_host: dict[str, int] = {}
    machines: list[dict[str, Any]] = []
    nics: list[dict[str, Any]] = []
    for k in range(VM_COUNT):
        vnet = rng.choice(vnets)
        env, team = vnet["tags"]["env"], vnet["tags"]["owner"]
        role = rng.choice(VM_ROLES)
        name = f"vm-{env}-{role}-{k + 1:03d}"
        rg_id = vnet["id"].split("/providers/")[0]
        tags = {"env": env, "owner": team, "CostCenter": rng.choice(COST_CENTERS)}
        if k == 7:  # a real-world wart: two tags that differ only by a space
            tags["Cost Center"] = rng.choice(COST_CENTERS)
        vm: dict[str, Any] = {
            "name": name,
            "id": f"{rg_id}/providers/Microsoft.Compute/virtualMachines/{name}",
            "type": "Microsoft.Compute/virtualMachines",
            "location": vnet["location"],
            "tags": tags,
        }
        accelerated = rng.random() < 0.7
        own = []
        for n in range(1 + (rng.random() < 0.6) + (rng.random() < 0.2)):
            subnet_index = rng.randrange(len(vnet["properties"]["subnets"]))
            subnet_id = vnet["properties"]["subnets"][subnet_index]["id"]
            host = next_host.get(subnet_id, 4)
            next_host[subnet_id] = host + 1
            octet = vnet["properties"]["addressSpace"]["addressPrefixes"][0].split(".")[1]
            ip = f"10.{octet}.{subnet_index}.{host % 250 + 4}"
            follows = rng.random() < 0.85  # most NICs follow the VM's intent, a few drift
            own.append(_nic(rng, vm, n, subnet_id, ip, accelerated if follows else not accelerated))
        nics.extend(own)
        vm["properties"] = _vm_properties(rng, name, own)
        machines.append(vm)
    return machines, nics


def _vm_properties(rng: random.Random, name: str, nics: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "vmId": _uuid(rng),
        "hardwareProfile": {"vmSize": rng.choice(VM_SIZES)},
        "storageProfile": {
            "imageReference": {
                "publisher": "Canonical",
                "offer": "ubuntu-24_04-lts",
                "sku": "server",
                "version": "latest",
            },  # fmt: skip
            "osDisk": {
                "osType": "Linux",
                "name": f"{name}_OsDisk_1",
                "createOption": "FromImage",
                "caching": "ReadWrite",
                "managedDisk": {"storageAccountType": rng.choice(OS_DISK_TYPES)},
                "diskSizeGB": 30,
            },
            "dataDisks": [],
        },
        "osProfile": {
            "computerName": name,
            "adminUsername": "azureuser",
            "linuxConfiguration": {
                "disablePasswordAuthentication": True,
                "patchSettings": {"patchMode": rng.choice(PATCH_MODES)},
            },
        },
        "networkProfile": {
            "networkInterfaces": [
                {**_ref(rng, nic["id"]), "properties": {"primary": i == 0}}
                for i, nic in enumerate(nics)
            ]
        },
        "diagnosticsProfile": {"bootDiagnostics": {"enabled": rng.random() < 0.5}},
        "provisioningState": "Succeeded",
        "timeCreated": (CREATED_FROM + dt.timedelta(seconds=rng.randrange(365 * 86_400))).strftime(
            "%Y-%m-%dT%H:%M:%S.0000000+00:00"
        ),
    }


def vms(seed: int = 42) -> list[dict[str, Any]]:
    """600 virtual machines referencing their 1-3 network interfaces by id."""
    return _copy(_compute(seed)[0])


def network_interfaces(seed: int = 42) -> list[dict[str, Any]]:
    """The network interfaces of the VMs (1,079), each in one subnet and referencing its VM."""
    return _copy(_compute(seed)[1])


def subscription_of(resource_id: str) -> str:
    """The subscription GUID of an ARM id (any case)."""
    return resource_id.split("/")[2].lower()


@cache
def _cost_rows(seed: int) -> tuple[tuple[Any, ...], ...]:
    rng = random.Random(f"costs-{seed}")
    resources: list[tuple[str, str, float]] = []
    for vm in vms(seed)[::17][:35]:
        resources.append((vm["id"], "Virtual Machines", rng.uniform(0.5, 40.0)))
    for vnet in virtual_networks(seed)[::40][:5]:
        resources.append((vnet["id"], "Virtual Network", rng.uniform(0.05, 3.0)))
    first_day = COST_END - dt.timedelta(days=COST_DAYS - 1)
    rows = []
    for offset in range(COST_DAYS):
        day = int((first_day + dt.timedelta(days=offset)).strftime("%Y%m%d"))
        for resource_id, service, base in resources:
            group = resource_id.split("/")[4]
            cost = round(base * rng.uniform(0.7, 1.3), 4)
            # Cost Management answers resource ids in lower case
            rows.append((cost, day, resource_id.lower(), service, group.lower(), "EUR"))
    return tuple(rows)


def cost_rows(seed: int = 42, subscription_id: str | None = None) -> list[list[Any]]:
    """Daily cost rows (columns ``COST_COLUMNS``) of 40 resources over 90 days, by day."""
    return [
        list(row)
        for row in _cost_rows(seed)
        if subscription_id is None or subscription_of(row[2]) == subscription_id.lower()
    ]


def costs(seed: int = 42) -> list[dict[str, Any]]:
    """The cost rows as records (column name -> value) with an ``id``: 3,600 of them."""
    names = [name for name, _ in COST_COLUMNS]
    return [
        {"id": f"{row[1]}:{row[2]}", **dict(zip(names, row, strict=True))}
        for row in cost_rows(seed)
    ]
