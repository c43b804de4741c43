"""Emulated Neutron (networking API v2.0): networks, subnets, ports, routers, floating IPs
and security groups, with marker paging, ``*_links`` and extensions that can be absent.
Like the real service, it returns rules and tags in no stable order.
"""

from __future__ import annotations

import random
from typing import Any

from collectors.openstack.emulator.cloud import Cloud
from collectors.openstack.emulator.common import next_params, paginate, public
from collectors.openstack.emulator.http import EmulatorServer, Request, Response, error

PREFIX = "/network/v2.0"
# URL collection -> (kind, JSON collection key, JSON item key, extension alias)
COLLECTIONS = {
    "networks": ("network.network", "networks", "network", "network"),
    "subnets": ("network.subnet", "subnets", "subnet", "subnet"),
    "ports": ("network.port", "ports", "port", "port"),
    "routers": ("network.router", "routers", "router", "router"),
    "floatingips": ("network.floating_ip", "floatingips", "floatingip", "router"),
    "security-groups": ("network.security_group", "security_groups", "security_group", "security-group"),
}
EXTENSIONS = ("network", "subnet", "port", "router", "security-group", "external-net", "binding",
              "standard-attr-revisions", "standard-attr-tag", "standard-attr-timestamp", "pagination", "sorting")
_SHUFFLED = ("security_group_rules", "tags", "security_groups", "fixed_ips", "subnets")


class Network:
    """Neutron's routes; kinds in ``missing`` answer 404, as without their plugin."""

    def __init__(self, server: EmulatorServer, cloud: Cloud, seed: int = 0) -> None:
        self.cloud = cloud
        self.missing: set[str] = set()
        self._random = random.Random(seed)
        server.route("GET", r"/network", self.versions, public=True)
        server.route("GET", PREFIX, self.resources)
        server.route("GET", PREFIX + r"/extensions", self.extensions)
        for path, spec in COLLECTIONS.items():
            server.route("GET", f"{PREFIX}/{path}", self._lister(*spec))
            server.route("GET", f"{PREFIX}/{path}/(?P<id>[^/]+)", self._getter(*spec))

    def versions(self, req: Request) -> Response:
        return Response(200, {"versions": [{"id": "v2.0", "status": "CURRENT",
                                            "links": [{"rel": "self", "href": req.base + PREFIX + "/"}]}]})

    def resources(self, req: Request) -> Response:
        items = [{"name": spec[2], "collection": spec[1],
                  "links": [{"rel": "self", "href": f"{req.base}{PREFIX}/{path}"}]}
                 for path, spec in COLLECTIONS.items() if spec[0] not in self.missing]
        return Response(200, {"resources": items})

    def extensions(self, req: Request) -> Response:
        absent = {COLLECTIONS[p][3] for p in COLLECTIONS if COLLECTIONS[p][0] in self.missing}
        items = [{"alias": a, "name": a, "description": "", "updated": "2013-01-01T10:00:00-00:00", "links": []}
                 for a in EXTENSIONS if a not in absent]
        return Response(200, {"extensions": items})

    def render(self, record: dict[str, Any]) -> dict[str, Any]:
        body = public(record)
        for name in _SHUFFLED:
            if isinstance(body.get(name), list) and len(body[name]) > 1:
                body[name] = self._random.sample(body[name], len(body[name]))
        return body

    def _lister(self, kind: str, plural: str, single: str, alias: str):  # type: ignore[no-untyped-def]
        def handler(req: Request) -> Response:
            if kind in self.missing:
                return error(404, "The resource could not be found.")
            filters = {k: v[-1] for k, v in req.query.items()
                       if k in ("tenant_id", "project_id", "network_id", "device_id", "name", "router:external")}

            def select(record: dict[str, Any]) -> bool:
                return all(str(record.get(k)).lower() == v.lower() for k, v in filters.items())
            with self.cloud.lock:
                result = paginate(req, self.cloud.collections[kind], select=select if filters else None,
                                  default_limit=10**9, max_limit=10**9, marker_status=404, exact=True)
                if isinstance(result, Response):
                    return result
                page, marker = result
                items = [self.render(r) for r in page]
            body: dict[str, Any] = {plural: items}
            if "limit" in req.query:
                links = []
                if marker is not None:
                    links.append({"rel": "next", "href": req.url(req.path, next_params(req, marker))})
                if req.arg("marker"):
                    back = dict(next_params(req, page[0]["id"] if page else req.arg("marker") or ""))
                    back["page_reverse"] = "True"
                    links.append({"rel": "previous", "href": req.url(req.path, back)})
                body[f"{plural}_links"] = links
            return Response(200, body)
        return handler

    def _getter(self, kind: str, plural: str, single: str, alias: str):  # type: ignore[no-untyped-def]
        def handler(req: Request) -> Response:
            record = None if kind in self.missing else self.cloud.get(kind, req.match["id"])  # type: ignore[index]
            if record is None:
                return error(404, f"{single} {req.match['id']} could not be found.")  # type: ignore[index]
            return Response(200, {single: self.render(record)})
        return handler
