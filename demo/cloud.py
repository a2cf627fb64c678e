"""Deterministic demo "cloud inventory" documents (Azure-like), destined for MongoDB.

Pure functions: every call with the same seed returns equal (freshly built) lists of dicts.
Ids are Azure-style resource paths, so vms -> nics -> subnets -> vnets can be joined.
"""

from __future__ import annotations

import datetime as dt
import random
import uuid
from typing import Any

REGIONS = ["westeurope", "northeurope", "francecentral", "germanywestcentral", "swedencentral"]
ENVS = ["prod", "staging", "dev"]
TEAMS = ["platform", "data", "payments", "web", "security", "ml"]
COST_CENTERS = ["CC-1001", "CC-1002", "CC-2001", "CC-3005", "CC-4200"]
VM_SIZES = ["Standard_B2s", "Standard_D2s_v5", "Standard_D4s_v5", "Standard_E8s_v5",
            "Standard_F4s_v2", "Standard_D8as_v5"]  # fmt: skip
VM_ROLES = ["web", "api", "db", "cache", "worker", "batch", "gw", "etl"]
OS_DISK_TYPES = ["Premium_LRS", "StandardSSD_LRS", "Standard_LRS"]
PATCH_MODES = ["AutomaticByPlatform", "AutomaticByOS", "Manual", "ImageDefault"]
HOP_TYPES = ["VirtualAppliance", "Internet", "VnetLocal", "VirtualNetworkGateway"]
SUBNET_NAMES = ["frontend", "backend", "data", "mgmt", "AzureFirewallSubnet", "aks"]
SUBSCRIPTION_NAMES = [
    ("kspyder-prod", "prod", "westeurope"),
    ("kspyder-staging", "staging", "northeurope"),
    ("kspyder-dev", "dev", "francecentral"),
    ("kspyder-shared", "prod", "westeurope"),
]
COST_DAYS = 90
COST_END = dt.date(2025, 12, 31)
VNET_COUNT = 40
VM_COUNT = 600


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _iso(rng: random.Random, start: dt.datetime, days: int) -> str:
    moment = start + dt.timedelta(seconds=rng.randrange(days * 86_400))
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def subscriptions(seed: int = 42) -> list[dict[str, Any]]:
    """The 4 demo subscriptions: id (uuid), name, region, tags."""
    rng = random.Random(f"subscriptions-{seed}")
    return [
        {
            "id": _uuid(rng),
            "name": name,
            "region": region,
            "tags": {"env": env, "owner_team": "platform", "cost_center": COST_CENTERS[i]},
        }
        for i, (name, env, region) in enumerate(SUBSCRIPTION_NAMES)
    ]


def _route_table(rng: random.Random, vnet_id: str, vnet_index: int, name: str) -> dict[str, Any]:
    rt_name = f"rt-{name}"
    routes = []
    for k in range(rng.randint(1, 4)):
        hop = rng.choice(HOP_TYPES)
        prefix = "0.0.0.0/0" if k == 0 else f"10.{rng.randrange(VNET_COUNT)}.0.0/16"
        routes.append(
            {
                "name": f"route-{k + 1}",
                "address_prefix": prefix,
                "next_hop_type": hop,
                "next_hop_ip": f"10.{vnet_index}.255.4" if hop == "VirtualAppliance" else None,
            }
        )
    rt_id = vnet_id.split("/providers/")[0] + f"/providers/Microsoft.Network/routeTables/{rt_name}"
    return {"id": rt_id, "name": rt_name, "routes": routes}


def virtual_networks(seed: int = 42) -> list[dict[str, Any]]:
    """~40 vnets with address spaces, tags and subnets (each with a route table or None)."""
    rng = random.Random(f"vnets-{seed}")
    subs = subscriptions(seed)
    vnets: list[dict[str, Any]] = []
    for i in range(VNET_COUNT):
        sub = subs[i % len(subs)]
        env = sub["tags"]["env"]
        region = sub["region"] if rng.random() < 0.6 else rng.choice(REGIONS)
        team = rng.choice(TEAMS)
        rg = f"rg-{team}-{env}-{region}"
        name = f"vnet-{team}-{env}-{i:02d}"
        vnet_id = (
            f"/subscriptions/{sub['id']}/resourceGroups/{rg}"
            f"/providers/Microsoft.Network/virtualNetworks/{name}"
        )
        subnets = []
        for j, subnet_name in enumerate(rng.sample(SUBNET_NAMES, rng.randint(2, 5))):
            has_rt = rng.random() < 0.6
            subnets.append(
                {
                    "name": subnet_name,
                    "address_prefix": f"10.{i}.{j}.0/24",
                    "route_table": _route_table(rng, vnet_id, i, f"{name}-{subnet_name}")
                    if has_rt
                    else None,
                }
            )
        vnets.append(
            {
                "id": vnet_id,
                "name": name,
                "subscription_id": sub["id"],
                "resource_group": rg,
                "region": region,
                "address_space": [f"10.{i}.0.0/16"],
                "tags": {"env": env, "owner_team": team, "cost_center": rng.choice(COST_CENTERS)},
                "subnets": subnets,
            }
        )
    return vnets


def vms(seed: int = 42) -> list[dict[str, Any]]:
    """~600 VMs with size, tags, options and 1-2 NICs attached to subnets of the vnets."""
    rng = random.Random(f"vms-{seed}")
    vnets = virtual_networks(seed)
    next_host: dict[str, int] = {}
    start = dt.datetime(2025, 1, 1)
    result: list[dict[str, Any]] = []
    for k in range(VM_COUNT):
        vnet = rng.choice(vnets)
        env = vnet["tags"]["env"]
        role = rng.choice(VM_ROLES)
        name = f"vm-{env}-{role}-{k + 1:03d}"
        rg = vnet["resource_group"]
        vm_id = (
            f"/subscriptions/{vnet['subscription_id']}/resourceGroups/{rg}"
            f"/providers/Microsoft.Compute/virtualMachines/{name}"
        )
        nics = []
        for n in range(1 if rng.random() < 0.8 else 2):
            subnet_index = rng.randrange(len(vnet["subnets"]))
            subnet = vnet["subnets"][subnet_index]
            subnet_id = f"{vnet['id']}/subnets/{subnet['name']}"
            host = next_host.get(subnet_id, 4)
            next_host[subnet_id] = host + 1
            vnet_octet = vnet["address_space"][0].split(".")[1]
            nics.append(
                {
                    "id": vm_id.split("/providers/")[0]
                    + f"/providers/Microsoft.Network/networkInterfaces/{name}-nic{n}",
                    "private_ip": f"10.{vnet_octet}.{subnet_index}.{host}",
                    "subnet_id": subnet_id,
                    "vnet_id": vnet["id"],
                }
            )
        result.append(
            {
                "id": vm_id,
                "name": name,
                "subscription_id": vnet["subscription_id"],
                "resource_group": rg,
                "region": vnet["region"],
                "size": rng.choice(VM_SIZES),
                "tags": {
                    "env": env,
                    "owner_team": vnet["tags"]["owner_team"],
                    "cost_center": rng.choice(COST_CENTERS),
                },
                "options": {
                    "accelerated_networking": rng.random() < 0.7,
                    "boot_diagnostics": rng.random() < 0.5,
                    "os_disk_type": rng.choice(OS_DISK_TYPES),
                    "patch_mode": rng.choice(PATCH_MODES),
                },
                "nics": nics,
                "updated_at": _iso(rng, start, 365),
            }
        )
    return result


def costs(seed: int = 42) -> list[dict[str, Any]]:
    """Daily EUR cost records over 90 days (to 2025-12-31) for 40 resources; sorted by date."""
    rng = random.Random(f"costs-{seed}")
    resources: list[tuple[dict[str, Any], str, float]] = []
    for vm in vms(seed)[::17][:35]:
        resources.append((vm, "Virtual Machines", rng.uniform(0.5, 40.0)))
    for vnet in virtual_networks(seed)[::8][:5]:
        resources.append((vnet, "Virtual Network", rng.uniform(0.05, 3.0)))
    first_day = COST_END - dt.timedelta(days=COST_DAYS - 1)
    records: list[dict[str, Any]] = []
    for offset in range(COST_DAYS):
        day = (first_day + dt.timedelta(days=offset)).isoformat()
        for resource, service, base in resources:
            records.append(
                {
                    "id": f"cost:{day}:{resource['name']}",
                    "date": day,
                    "subscription_id": resource["subscription_id"],
                    "resource_group": resource["resource_group"],
                    "resource_id": resource["id"],
                    "service": service,
                    "cost": round(base * rng.uniform(0.7, 1.3), 4),
                    "currency": "EUR",
                    "tags": dict(resource["tags"]),
                }
            )
    return records
