"""The emulator's list commands: which table each reads, its filters, paging and answer shapes.

Owns the management server's listing semantics as seen by a root admin: ``listall``
(without it only the caller's own resources), ``projectid`` (absent: no project
resources; ``-1``: project resources only; a uuid: that project's), ``id`` and a
few other filters, ``page``/``pagesize`` with a maximum page size, ``count`` as the
total before paging, ``{}`` for an empty answer. Never speaks HTTP or checks signatures.

Shapes pinned from apache/cloudstack: ApiResponseSerializer (``{"<cmd>response":
{"count": N, "<object>": [...]}}``, no list key on an empty page), BaseListCmd
(``Page size can't exceed max allowed page size value: 500``, InvalidParameterValueException
= 431/cserrorcode 4350), AccountManagerImpl.buildACLSearchParameters (projectid -1 means
ListProjectResourcesOnly, no projectid means SkipProjectResources).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from collectors.cloudstack.emulator.inventory import Inventory, Record

CALLER_ACCOUNT = "admin"


@dataclass(frozen=True)
class Command:
    """One list command: the table it reads and which ownership rules apply."""

    kind: str
    owned: bool = False
    projects: bool = False
    required: tuple[str, ...] = ()


COMMANDS: dict[str, Command] = {
    "listZones": Command("zone"),
    "listPods": Command("pod"),
    "listClusters": Command("cluster"),
    "listHosts": Command("host"),
    "listStoragePools": Command("storagepool"),
    "listImageStores": Command("imagestore"),
    "listSystemVms": Command("systemvm"),
    "listRouters": Command("router", owned=True, projects=True),
    "listVirtualMachines": Command("virtualmachine", owned=True, projects=True),
    "listVolumes": Command("volume", owned=True, projects=True),
    "listSnapshots": Command("snapshot", owned=True, projects=True),
    "listNetworks": Command("network", owned=True, projects=True),
    "listVPCs": Command("vpc", owned=True, projects=True),
    "listPublicIpAddresses": Command("publicipaddress", owned=True, projects=True),
    "listTemplates": Command("template", projects=True, required=("templatefilter",)),
    "listIsos": Command("iso", projects=True),
    "listServiceOfferings": Command("serviceoffering"),
    "listDiskOfferings": Command("diskoffering"),
    "listNetworkOfferings": Command("networkoffering"),
    "listDomains": Command("domain"),
    "listAccounts": Command("account"),
    "listProjects": Command("project"),
    "listSecurityGroups": Command("securitygroup", owned=True, projects=True),
}
CAPABILITIES_COMMAND = "listCapabilities"
COMMANDS_BY_LOWER = {name.lower(): name for name in (*COMMANDS, CAPABILITIES_COMMAND)}

FILTERS = ("zoneid", "podid", "clusterid", "hostid", "virtualmachineid", "volumeid", "domainid", "networkid",
           "vpcid", "state", "name", "type", "scope")


class ApiError(Exception):
    """An error the management server would answer with: HTTP status, cserrorcode and text."""

    def __init__(self, status: int, text: str, cserrorcode: int | None = 9999) -> None:
        super().__init__(text)
        self.status = status
        self.text = text
        self.cserrorcode = cserrorcode


def response_name(command: str) -> str:
    """``listVirtualMachines`` -> ``listvirtualmachinesresponse``."""
    return f"{command.lower()}response"


def error_body(command: str, error: ApiError) -> dict[str, Any]:
    """The JSON error object, e.g. ``{"listzonesresponse": {"uuidList": [], "errorcode": 431, ...}}``."""
    body: dict[str, Any] = {"uuidList": [], "errorcode": error.status}
    if error.cserrorcode is not None:
        body["cserrorcode"] = error.cserrorcode
    body["errortext"] = error.text
    return {response_name(command or "api"): body}


def _integer(command: str, params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None:
        return None
    try:
        return int(raw)
    except ValueError:
        raise ApiError(431, f"Unable to execute API command {command.lower()} due to invalid value. Invalid "
                            f"parameter {name} value={raw} due to incorrect long value format, or entity does not "
                            "exist or due to incorrect parameter annotation for the field in api cmd class.") from None


def page_window(command: str, params: Mapping[str, str], max_page_size: int) -> tuple[int, int | None]:
    """(start index, page size or None for unlimited) after BaseListCmd's checks."""
    page = _integer(command, params, "page")
    size = _integer(command, params, "pagesize")
    if size is not None and size > max_page_size:
        raise ApiError(431, f"Page size can't exceed max allowed page size value: {max_page_size}", 4350)
    if size == -1 and page is not None:
        raise ApiError(431, "Can't specify page parameter when pagesize is -1 (Unlimited)", 4350)
    if size is not None and size < -1 or size == 0 or page is not None and page < 1:
        raise ApiError(431, "Please specify a valid page and pagesize", 4350)
    effective = max_page_size if size is None else (None if size == -1 else size)
    return ((page or 1) - 1) * (effective or 0), effective


def _visible(record: Record, spec: Command, params: Mapping[str, str]) -> bool:
    lowered = params
    if spec.projects:
        project = lowered.get("projectid")
        if project == "-1":
            if "projectid" not in record:
                return False
        elif project:
            if record.get("projectid") != project:
                return False
        elif "projectid" in record:
            return False
    listall = lowered.get("listall", "false").lower() == "true"
    if spec.owned and not listall and not lowered.get("projectid") and record.get("account") != CALLER_ACCOUNT:
        return False
    if "id" in lowered and record.get("id") != lowered["id"]:
        return False
    return all(record.get(name) == lowered[name] for name in FILTERS if name in lowered)


_CACHE_KEYS = frozenset({"command", "page", "pagesize", "listall", "projectid", "response", "apikey", "signature",
                         "signatureversion", "expires", "templatefilter", "isofilter"})


def _matching(inventory: Inventory, spec: Command, params: Mapping[str, str]) -> list[Record]:
    """The records a list call sees, all pages. Without filters (the collector's calls) they depend
    only on the table's members, so they are kept between the pages of a listing: filtering
    100,000 VMs for each page would make the emulator, not the poller, what a benchmark measures."""
    if not set(params) <= _CACHE_KEYS or spec.kind in ("template", "iso"):
        return [record for record in inventory.records(spec.kind) if _visible(record, spec, params)]
    key = (spec.kind, params.get("projectid"), params.get("listall", "false").lower())
    version = inventory.version(spec.kind)
    cache: dict[Any, tuple[Any, list[Record]]] = inventory.__dict__.setdefault("_matching_cache", {})
    hit = cache.get(key)
    if hit is None or hit[0] != version:
        hit = (version, [record for record in inventory.records(spec.kind) if _visible(record, spec, params)])
        cache[key] = hit
    return hit[1]


def list_records(inventory: Inventory, command: str, params: Mapping[str, str], max_page_size: int) -> dict[str, Any]:
    """Answer one list command as the JSON object CloudStack would send (already wrapped)."""
    spec = COMMANDS[command]
    lowered = {name.lower(): value for name, value in params.items()}
    for name in spec.required:
        if not lowered.get(name):
            raise ApiError(431, f"Unable to execute API command {command.lower()} due to missing parameter {name}")
    start, size = page_window(command, lowered, max_page_size)
    if "id" in lowered and not inventory.known(spec.kind, lowered["id"]):
        # ParamProcessWorker: a uuid found nowhere (not even among removed rows) is a 431.
        raise ApiError(431, f"Unable to execute API command {command.lower()} due to invalid value. Invalid parameter "
                            f"id value={lowered['id']} due to incorrect long value format, or entity does not exist or "
                            "due to incorrect parameter annotation for the field in api cmd class.", 4350)
    with inventory.lock:  # a consistent snapshot, copied so later changes cannot race the serializer
        matching = _matching(inventory, spec, lowered)
        window = _copied(matching[start:] if size is None else matching[start:start + size])
    inner: dict[str, Any] = {}
    if matching:
        inner["count"] = len(matching)
    if window:
        inner[spec.kind] = window
    return {response_name(command): inner}


def dump(value: Any) -> bytes:
    """Compact JSON of an answer: orjson (a management server's serializing is not what a benchmark
    should measure), the stdlib for what orjson refuses (integers beyond 64 bits, NaN)."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError
        return json.dumps(value, separators=(",", ":")).encode("utf-8")


def _copied(records: list[Record]) -> list[Record]:
    """A deep copy of JSON records (through orjson when it can)."""
    try:
        return orjson.loads(orjson.dumps(records))  # type: ignore[no-any-return]
    except TypeError:  # orjson.JSONEncodeError
        return json.loads(json.dumps(records))  # type: ignore[no-any-return]


def capabilities() -> dict[str, Any]:
    """The answer to listCapabilities (callable by every role): a single ``capability`` object."""
    return {response_name(CAPABILITIES_COMMAND): {"capability": {
        "cloudstackversion": "4.19.1.0", "securitygroupsenabled": False, "dynamicrolesenabled": True,
        "userpublictemplateenabled": True, "projectinviterequired": False, "allowusercreateprojects": True,
        "customdiskofferingmaxsize": 1024, "kvmsnapshotenabled": False, "apilimitinterval": 1, "apilimitmax": 25,
        "regionsecondaryenabled": False, "kubernetesserviceenabled": False, "allowuserviewdestroyedvm": False,
    }}}
