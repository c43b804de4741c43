"""Helpers every emulated service shares: marker paging, microversion negotiation, ids.

Pure functions over the cloud's collections and a parsed Request; no routing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from collectors.openstack.emulator.cloud import Collection
from collectors.openstack.emulator.http import Request, Response, error

Select = Callable[[dict[str, Any]], bool]


def paginate(req: Request, coll: Collection, *, select: Select | None = None, with_deleted: bool = False,
             default_limit: int = 1000, max_limit: int = 1000, marker_status: int = 400,
             exact: bool = False, key_field: str = "id") -> tuple[list[dict[str, Any]], str | None] | Response:
    """One page of ``coll`` after ``?marker=`` (``limit`` capped), and the next page's marker.

    Like Nova and Cinder, a full page always carries a next marker (the following
    page may be empty); with ``exact`` (Neutron) only when more records follow.
    An unknown marker answers ``marker_status``.
    """
    try:
        limit = min(int(req.arg("limit") or default_limit), max_limit)
    except ValueError:
        return error(400, "limit must be an integer")
    if limit < 0:
        return error(400, "limit must be >= 0")
    marker = req.arg("marker")
    keys = coll.after(marker, with_deleted=with_deleted)
    if keys is None:
        return error(marker_status, f"marker [{marker}] not found")
    page: list[dict[str, Any]] = []
    more = False
    for key in keys:
        record = coll.get(key, with_deleted=with_deleted)
        if record is None or (select is not None and not select(record)):
            continue
        if len(page) == limit:
            more = True
            break
        page.append(record)
    full = limit > 0 and len(page) == limit
    next_marker = None
    if (more if exact else full) and page:
        next_marker = str(page[-1][key_field])
    return page, next_marker


def next_params(req: Request, marker: str, drop: tuple[str, ...] = ()) -> dict[str, str]:
    """The query of the next page: the request's own parameters with the new marker."""
    params = {k: v[-1] for k, v in req.query.items() if k not in drop}
    params["marker"] = marker
    return params


def microversion(req: Request, names: tuple[str, ...], minimum: tuple[int, int],
                 maximum: tuple[int, int]) -> tuple[int, int] | Response:
    """The microversion a request asks for (``OpenStack-API-Version`` or the legacy header).

    No header means the minimum; ``latest`` the maximum; outside the range is 406.
    """
    wanted: str | None = None
    header = req.headers.get("openstack-api-version")
    if header:
        for part in header.split(","):
            service, _, value = part.strip().partition(" ")
            if service in names:
                wanted = value.strip()
    legacy = {"compute": "x-openstack-nova-api-version", "volume": "x-openstack-volume-api-version"}
    for name in names:
        if wanted is None and name in legacy and legacy[name] in req.headers:
            wanted = req.headers[legacy[name]]
    if wanted is None:
        return minimum
    if wanted == "latest":
        return maximum
    try:
        major, minor = (int(p) for p in wanted.split("."))
    except ValueError:
        return error(400, f"Invalid microversion {wanted!r}")
    if not minimum <= (major, minor) <= maximum:
        return error(406, f"Version {wanted} is not supported by the API.")
    return major, minor


def version_headers(service: str, version: tuple[int, int]) -> dict[str, str]:
    text = f"{version[0]}.{version[1]}"
    headers = {"OpenStack-API-Version": f"{service} {text}", "Vary": "OpenStack-API-Version"}
    if service == "compute":
        headers["X-OpenStack-Nova-API-Version"] = text
    return headers


def parse_time(value: str) -> datetime | None:
    """An ISO-8601 time as changes-since takes it (``Z`` or an offset; naive means UTC)."""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def public(record: dict[str, Any]) -> dict[str, Any]:
    """A copy of a record without the emulator's private ``_`` fields."""
    return {k: v for k, v in record.items() if not k.startswith("_")}
