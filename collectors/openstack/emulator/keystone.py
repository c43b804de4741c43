"""Emulated Keystone v3: version discovery, authentication (password, application credential
and token methods, as Keystone's API has them) with a service catalog, and the domain,
project and user listings. Never touches another service's records.
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
        self.application_credentials: dict[str, dict[str, Any]] = {}
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
    def add_application_credential(self, user_id: str, project_id: str, name: str, secret: str) -> str:
        """Create an application credential of ``user_id`` scoped to ``project_id``; returns its id."""
        cred_id = uuid.uuid4().hex
        self.application_credentials[cred_id] = {"id": cred_id, "name": name, "secret": secret,
                                                 "user_id": user_id, "project_id": project_id}
        return cred_id

    def authenticate(self, req: Request) -> Response:
        """POST /v3/auth/tokens with the ``password``, ``application_credential`` or ``token`` method."""
        try:
            identity = req.body["auth"]["identity"]
            methods = identity["methods"]
        except (KeyError, TypeError):
            return error(400, "Expecting to find identity in auth.")
        scope = (req.body["auth"].get("scope") or {}).get("project")
        if methods == ["application_credential"]:
            if req.body["auth"].get("scope"):
                return error(401, "The request you have made requires authentication.")
            found = self._application_credential(identity.get("application_credential") or {})
            if found is None:
                return error(401, "The request you have made requires authentication.")
            user_id, project_id, cred = found
            return self._token(req, ["application_credential"], user_id, self.cloud.get("identity.project", project_id),
                               {"application_credential": {"id": cred["id"], "name": cred["name"],
                                                           "restricted": True}})
        if methods == ["token"]:
            token = self.server.check_token((identity.get("token") or {}).get("id"))
            if token is None:
                return error(401, "The request you have made requires authentication.")
            user_id = token.user_id
        elif methods == ["password"]:
            try:
                user_ref = identity["password"]["user"]
                password = user_ref["password"]
            except (KeyError, TypeError):
                return error(400, "Expecting to find identity.password.user in auth.")
            user = self._find("identity.user", user_ref)
            if user is None or self.cloud.passwords.get(user["id"]) != password or not user.get("enabled", True):
                return error(401, "The request you have made requires authentication.")
            user_id = user["id"]
        else:
            return error(401, "The request you have made requires authentication.")
        project = self._find("identity.project", scope) if scope else None
        if scope and project is None:
            return error(401, "The request you have made requires authentication.")
        return self._token(req, methods, user_id, project, {})

    def _application_credential(self, ref: dict[str, Any]) -> tuple[str, str, dict[str, Any]] | None:
        """(user id, project id, credential) for an id+secret or a name+secret+user reference."""
        if "id" in ref:
            cred = self.application_credentials.get(str(ref["id"]))
        else:
            user = self._find("identity.user", ref.get("user") or {}) if ref.get("user") else None
            cred = next((c for c in self.application_credentials.values()
                         if user is not None and c["user_id"] == user["id"] and c["name"] == ref.get("name")), None)
        if cred is None or cred["secret"] != ref.get("secret"):
            return None
        user = self.cloud.get("identity.user", cred["user_id"])
        if user is None or not user.get("enabled", True):
            return None
        return cred["user_id"], cred["project_id"], cred

    def _token(self, req: Request, methods: list[str], user_id: str, project: dict[str, Any] | None,
               extra: dict[str, Any]) -> Response:
        user = self.cloud.get("identity.user", user_id) or {"id": user_id, "name": user_id, "domain_id": "default"}
        value, token = self.server.issue_token(user_id, project["id"] if project else "")
        body: dict[str, Any] = {
            "methods": methods, "audit_ids": [uuid.uuid4().hex[:22]],
            "expires_at": token.expires_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "issued_at": self.cloud.clock().strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "user": {"id": user["id"], "name": user["name"], "password_expires_at": None,
                     "domain": self._domain_ref(user["domain_id"])},
            **extra,
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
