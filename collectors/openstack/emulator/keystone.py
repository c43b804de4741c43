"""Emulated Keystone v3: version discovery, password authentication with a service catalog,
and the domain, project and user listings. Never touches another service's records.
"""

from __future__ import annotations

import uuid
from typing import Any

from collectors.openstack.emulator.cloud import Cloud
from collectors.openstack.emulator.common import public
from collectors.openstack.emulator.http import EmulatorServer, Request, Response, error

REGION = "RegionOne"
# service type -> (name, path under the emulator's base; {project_id} is filled per token)
SERVICES = {
    "identity": ("keystone", "/identity"),
    "compute": ("nova", "/compute/v2.1"),
    "network": ("neutron", "/network"),
    "image": ("glance", "/image"),
    "block-storage": ("cinderv3", "/volume/v3/{project_id}"),
    "placement": ("placement", "/placement"),
    "orchestration": ("heat", "/heat-api/v1/{project_id}"),
}


class Keystone:
    """Identity routes; ``hidden_services`` are left out of the catalogs of new tokens."""

    def __init__(self, server: EmulatorServer, cloud: Cloud) -> None:
        self.server = server
        self.cloud = cloud
        self.hidden_services: set[str] = set()
        server.route("GET", r"/identity", self.versions, public=True)
        server.route("GET", r"/identity/v3", self.version, public=True)
        server.route("POST", r"/identity/v3/auth/tokens", self.authenticate, public=True)
        for kind, plural in (("domain", "domains"), ("project", "projects"), ("user", "users")):
            server.route("GET", rf"/identity/v3/{plural}", self._lister(kind, plural))
            server.route("GET", rf"/identity/v3/{plural}/(?P<id>[^/]+)", self._getter(kind))

    def _version_doc(self, req: Request) -> dict[str, Any]:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": req.base + "/identity/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    def versions(self, req: Request) -> Response:
        return Response(300, {"versions": {"values": [self._version_doc(req)]}})

    def version(self, req: Request) -> Response:
        return Response(200, {"version": self._version_doc(req)})

    # -- authentication ----------------------------------------------------------
    def authenticate(self, req: Request) -> Response:
        try:
            identity = req.body["auth"]["identity"]
            user_ref = identity["password"]["user"]
            password = user_ref["password"]
        except (KeyError, TypeError):
            return error(400, "Expecting to find identity.password.user in auth.")
        user = self._find("identity.user", user_ref)
        if user is None or self.cloud.passwords.get(user["id"]) != password or not user.get("enabled", True):
            return error(401, "The request you have made requires authentication.")
        scope = (req.body["auth"].get("scope") or {}).get("project")
        project = self._find("identity.project", scope) if scope else None
        if scope and project is None:
            return error(401, "The request you have made requires authentication.")
        value, token = self.server.issue_token(user["id"], project["id"] if project else "")
        body: dict[str, Any] = {
            "methods": ["password"], "audit_ids": [uuid.uuid4().hex[:22]],
            "expires_at": token.expires_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "issued_at": self.cloud.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "user": {"id": user["id"], "name": user["name"], "password_expires_at": None,
                     "domain": self._domain_ref(user["domain_id"])},
        }
        if project is not None:
            body["project"] = {"id": project["id"], "name": project["name"],
                               "domain": self._domain_ref(project["domain_id"])}
            body["is_domain"] = False
            body["roles"] = [{"id": uuid.uuid5(uuid.NAMESPACE_OID, r).hex, "name": r}
                             for r in self.cloud.roles.get(user["id"], [])]
            body["catalog"] = self.catalog(req, project["id"])
        return Response(201, {"token": body}, {"X-Subject-Token": value})

    def catalog(self, req: Request, project_id: str) -> list[dict[str, Any]]:
        entries = []
        for service_type, (name, path) in SERVICES.items():
            if service_type in self.hidden_services:
                continue
            url = req.base + path.format(project_id=project_id)
            endpoints = [{"id": uuid.uuid5(uuid.NAMESPACE_URL, url + iface).hex, "interface": iface,
                          "region": REGION, "region_id": REGION, "url": url}
                         for iface in ("public", "internal", "admin")]
            entries.append({"id": uuid.uuid5(uuid.NAMESPACE_DNS, service_type).hex, "type": service_type,
                            "name": name, "endpoints": endpoints})
        return entries

    def _find(self, kind: str, ref: dict[str, Any]) -> dict[str, Any] | None:
        if "id" in ref:
            return self.cloud.get(kind, ref["id"])
        if kind == "identity.domain":
            return self.cloud.find(kind, name=ref.get("name"))
        domain_ref = ref.get("domain") or {"id": "default"}
        domain = self._find("identity.domain", domain_ref) if "name" in domain_ref else \
            self.cloud.get("identity.domain", domain_ref.get("id", ""))
        if domain is None:
            return None
        return self.cloud.find(kind, name=ref.get("name"), domain_id=domain["id"])

    def _domain_ref(self, domain_id: str) -> dict[str, str]:
        domain = self.cloud.get("identity.domain", domain_id) or {"id": domain_id, "name": domain_id}
        return {"id": domain["id"], "name": domain["name"]}

    # -- listings ------------------------------------------------------------------
    def _render(self, req: Request, kind: str, plural: str, record: dict[str, Any]) -> dict[str, Any]:
        body = public(record)
        body["links"] = {"self": f"{req.base}/identity/v3/{plural}/{record['id']}"}
        return body

    def _lister(self, kind: str, plural: str):  # type: ignore[no-untyped-def]
        def handler(req: Request) -> Response:
            records = self.cloud.all(f"identity.{kind}")
            for field in ("domain_id", "name"):
                if req.arg(field) is not None:
                    records = [r for r in records if r.get(field) == req.arg(field)]
            items = [self._render(req, kind, plural, r) for r in records]
            links = {"self": req.url(req.path), "previous": None, "next": None}
            return Response(200, {plural: items, "links": links})
        return handler

    def _getter(self, kind: str):  # type: ignore[no-untyped-def]
        plural = kind + "s"

        def handler(req: Request) -> Response:
            record = self.cloud.get(f"identity.{kind}", req.match["id"])  # type: ignore[index]
            if record is None:
                return error(404, f"Could not find {kind}: {req.match['id']}.")  # type: ignore[index]
            return Response(200, {kind: self._render(req, kind, plural, record)})
        return handler
