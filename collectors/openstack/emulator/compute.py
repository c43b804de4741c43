"""Emulated Nova (compute API v2.1 with microversions up to MAX): servers, flavors,
hypervisors, services, aggregates and keypairs, shaped per requested microversion.
Never touches other services' records except to read what a server uses.
"""

from __future__ import annotations

import itertools
from typing import Any

from collectors.openstack.emulator.cloud import Cloud, iso
from collectors.openstack.emulator.common import (
    microversion,
    next_params,
    paginate,
    parse_time,
    public,
    version_headers,
)
from collectors.openstack.emulator.http import EmulatorServer, Request, Response, error

MIN = (2, 1)
MAX = (2, 96)
PREFIX = "/compute/v2.1"


def _text(version: tuple[int, int]) -> str:
    return f"{version[0]}.{version[1]}"


class Compute:
    """Nova's routes over the cloud's compute.* collections."""

    def __init__(self, server: EmulatorServer, cloud: Cloud) -> None:
        self.cloud = cloud
        self.missing: set[str] = set()
        self._heartbeat = itertools.count()
        server.route("GET", r"/compute", self.versions, public=True)
        server.route("GET", r"/compute/v2\.1", self.version, public=True)
        routes = {
            r"/servers/detail": self.list_servers, r"/servers": self.list_servers,
            r"/servers/(?P<id>[^/]+)": self.get_server,
            r"/flavors/detail": self.list_flavors, r"/flavors": self.list_flavors,
            r"/flavors/(?P<id>[^/]+)": self.get_flavor,
            r"/os-hypervisors/detail": self.list_hypervisors, r"/os-hypervisors": self.list_hypervisors,
            r"/os-hypervisors/(?P<id>[^/]+)": self.get_hypervisor,
            r"/os-services": self.list_services, r"/os-aggregates": self.list_aggregates,
            r"/os-keypairs": self.list_keypairs, r"/os-keypairs/(?P<id>[^/]+)": self.get_keypair,
        }
        for pattern, handler in routes.items():
            server.route("GET", PREFIX + pattern, self._versioned(handler))

    def _versioned(self, handler):  # type: ignore[no-untyped-def]
        def wrapped(req: Request) -> Response:
            mv = microversion(req, ("compute",), MIN, MAX)
            if isinstance(mv, Response):
                return mv
            response: Response = handler(req, mv)
            response.headers.update(version_headers("compute", mv))
            return response
        return wrapped

    def _doc(self, req: Request) -> dict[str, Any]:
        return {"id": "v2.1", "status": "CURRENT", "version": _text(MAX), "min_version": _text(MIN),
                "updated": "2013-07-23T11:33:21Z", "links": [{"rel": "self", "href": req.base + PREFIX + "/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2.1"}]}

    def versions(self, req: Request) -> Response:
        v20 = {"id": "v2.0", "status": "SUPPORTED", "version": "", "min_version": "",
               "updated": "2011-01-21T11:33:21Z", "links": [{"rel": "self", "href": req.base + "/compute/v2/"}]}
        return Response(200, {"versions": [v20, self._doc(req)]})

    def version(self, req: Request) -> Response:
        return Response(200, {"version": self._doc(req)})

    def _links(self, req: Request, plural: str, key: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": f"{req.base}{PREFIX}/{plural}/{key}"},
                {"rel": "bookmark", "href": f"{req.base}/compute/{plural}/{key}"}]

    def _page(self, req: Request, kind: str, plural: str, render, *, select=None,  # type: ignore[no-untyped-def]
              with_deleted: bool = False, key_field: str = "id", links_key: str | None = None,
              drop: tuple[str, ...] = ()) -> Response:
        """A paged listing answer: items and, on a full page, ``<plural>_links`` with a next href."""
        if kind in self.missing:
            return error(404, "The resource could not be found.")
        with self.cloud.lock:
            result = paginate(req, self.cloud.collections[kind], select=select, with_deleted=with_deleted,
                              key_field=key_field)
            if isinstance(result, Response):
                return result
            page, marker = result
            items = [render(req, record) for record in page]
        name = links_key or plural.rsplit("/", 1)[-1].replace("os-", "")
        body: dict[str, Any] = {name: items}
        if marker is not None:
            href = req.url(req.path, next_params(req, marker, drop))
            body[f"{name}_links"] = [{"rel": "next", "href": href}]
        return Response(200, body)

    # -- servers ----------------------------------------------------------------------
    def list_servers(self, req: Request, mv: tuple[int, int]) -> Response:
        admin_all = req.flag("all_tenants") or req.flag("all_projects")
        project = req.arg("project_id") or req.arg("tenant_id")
        since = None
        if req.arg("changes-since") is not None:
            since = parse_time(req.arg("changes-since") or "")
            if since is None:
                return error(400, "Invalid filter field: changes-since.")
        meta = self.cloud.collections["compute.server"].meta

        def select(record: dict[str, Any]) -> bool:
            if not admin_all and record["tenant_id"] != (project or req.token.project_id):  # type: ignore[union-attr]
                return False
            if admin_all and project and record["tenant_id"] != project:
                return False
            return since is None or meta[record["id"]].changed >= since

        detail = req.path.endswith("/detail")
        render = (lambda r, rec: self.render_server(r, rec, mv)) if detail else \
            (lambda r, rec: {"id": rec["id"], "name": rec["name"], "links": self._links(r, "servers", rec["id"])})
        return self._page(req, "compute.server", "servers", render, select=select, with_deleted=since is not None)

    def get_server(self, req: Request, mv: tuple[int, int]) -> Response:
        record = self.cloud.get("compute.server", req.match["id"])  # type: ignore[index]
        if record is None:
            return error(404, f"Instance {req.match['id']} could not be found.")  # type: ignore[index]
        return Response(200, {"server": self.render_server(req, record, mv)})

    def render_server(self, req: Request, record: dict[str, Any], mv: tuple[int, int]) -> dict[str, Any]:
        body = public(record)
        flavor = record["_flavor"]
        if mv >= (2, 47):
            body["flavor"] = {k: v for k, v in flavor.items() if k != "id"}
        else:
            body["flavor"] = {"id": flavor["id"], "links": self._links(req, "flavors", flavor["id"])[1:]}
        if isinstance(body.get("image"), dict):
            image_id = body["image"]["id"]
            body["image"] = {"id": image_id, "links": [{"rel": "bookmark",
                                                        "href": f"{req.base}/compute/images/{image_id}"}]}
        for name, since in (("locked", (2, 9)), ("host_status", (2, 16)), ("description", (2, 19)),
                            ("tags", (2, 26))):
            if mv < since:
                body.pop(name, None)
        body["links"] = self._links(req, "servers", record["id"])
        return body

    # -- flavors ----------------------------------------------------------------------
    def list_flavors(self, req: Request, mv: tuple[int, int]) -> Response:
        wanted = (req.arg("is_public") or "true").lower()

        def select(record: dict[str, Any]) -> bool:
            return wanted == "none" or record["os-flavor-access:is_public"] == (wanted in ("true", "1", "yes"))

        detail = req.path.endswith("/detail")
        render = (lambda r, rec: self.render_flavor(r, rec, mv)) if detail else \
            (lambda r, rec: {"id": rec["id"], "name": rec["name"], "links": self._links(r, "flavors", rec["id"])})
        return self._page(req, "compute.flavor", "flavors", render, select=select)

    def get_flavor(self, req: Request, mv: tuple[int, int]) -> Response:
        record = self.cloud.get("compute.flavor", req.match["id"])  # type: ignore[index]
        if record is None:
            return error(404, f"Flavor {req.match['id']} could not be found.")  # type: ignore[index]
        return Response(200, {"flavor": self.render_flavor(req, record, mv)})

    def render_flavor(self, req: Request, record: dict[str, Any], mv: tuple[int, int]) -> dict[str, Any]:
        body = public(record)
        if mv < (2, 61):
            body.pop("extra_specs", None)
        if mv < (2, 55):
            body.pop("description", None)
        body["links"] = self._links(req, "flavors", record["id"])
        return body

    # -- hypervisors ------------------------------------------------------------------
    def list_hypervisors(self, req: Request, mv: tuple[int, int]) -> Response:
        usage = self._usage()
        detail = req.path.endswith("/detail")
        render = (lambda r, rec: self.render_hypervisor(rec, mv, usage)) if detail else \
            (lambda r, rec: {"id": rec["id"], "hypervisor_hostname": rec["hypervisor_hostname"],
                             "state": rec["state"], "status": rec["status"]})
        return self._page(req, "compute.hypervisor", "os-hypervisors", render)

    def get_hypervisor(self, req: Request, mv: tuple[int, int]) -> Response:
        record = self.cloud.get("compute.hypervisor", req.match["id"])  # type: ignore[index]
        if record is None:
            return error(404, f"Hypervisor with ID {req.match['id']} could not be found.")  # type: ignore[index]
        return Response(200, {"hypervisor": self.render_hypervisor(record, mv, self._usage())})

    def _usage(self) -> dict[str, list[int]]:
        """Per host: vcpus, MB of RAM and GB of disk used, and the number of servers."""
        usage: dict[str, list[int]] = {}
        with self.cloud.lock:
            for server in self.cloud.collections["compute.server"].live.values():
                flavor = server["_flavor"]
                row = usage.setdefault(server["OS-EXT-SRV-ATTR:hypervisor_hostname"] or "", [0, 0, 0, 0])
                row[0] += flavor["vcpus"]
                row[1] += flavor["ram"]
                row[2] += flavor["disk"]
                row[3] += 1
        return usage

    def render_hypervisor(self, record: dict[str, Any], mv: tuple[int, int],
                          usage: dict[str, list[int]]) -> dict[str, Any]:
        body = public(record)
        if mv >= (2, 88):
            for name in ("vcpus", "memory_mb", "local_gb", "cpu_info"):
                body.pop(name, None)
            body["uptime"] = f" 10:00:00 up {next(self._heartbeat)} min,  0 users,  load average: 0.10, 0.12, 0.09"
            return body
        vcpus, ram, disk, count = usage.get(record["hypervisor_hostname"], [0, 0, 0, 0])
        free_disk = record["local_gb"] - disk
        body.update({"vcpus_used": vcpus, "memory_mb_used": ram + 512, "local_gb_used": disk,
                     "free_ram_mb": record["memory_mb"] - ram - 512, "free_disk_gb": free_disk,
                     "running_vms": count, "current_workload": 0,
                     # like a real host, what is left on disk drifts without anyone changing anything
                     "disk_available_least": free_disk - next(self._heartbeat) % 3})
        if mv < (2, 28):
            body["cpu_info"] = str(record["cpu_info"])
        return body

    # -- services, aggregates, keypairs -----------------------------------------------
    def list_services(self, req: Request, mv: tuple[int, int]) -> Response:
        if "compute.service" in self.missing:
            return error(404, "The resource could not be found.")
        now = iso(self.cloud.clock())
        items = []
        for record in self.cloud.all("compute.service"):
            if req.arg("binary") and record["binary"] != req.arg("binary"):
                continue
            body = public(record)
            body["updated_at"] = now  # the heartbeat: moves every few seconds on a healthy cloud
            items.append(body)
        return Response(200, {"services": items})

    def list_aggregates(self, req: Request, mv: tuple[int, int]) -> Response:
        if "compute.aggregate" in self.missing:
            return error(404, "The resource could not be found.")
        items = []
        for record in self.cloud.all("compute.aggregate"):
            body = public(record)
            if mv < (2, 41):
                body.pop("uuid", None)
            items.append(body)
        return Response(200, {"aggregates": items})

    def list_keypairs(self, req: Request, mv: tuple[int, int]) -> Response:
        user = req.arg("user_id") or req.token.user_id  # type: ignore[union-attr]

        def render(r: Request, rec: dict[str, Any]) -> dict[str, Any]:
            return {"keypair": {k: rec[k] for k in ("name", "public_key", "fingerprint", "type")}}
        if mv < (2, 35):
            items = [render(req, r) for r in self.cloud.all("compute.keypair") if r["user_id"] == user]
            return Response(200, {"keypairs": items})
        return self._page(req, "compute.keypair", "keypairs", render, key_field="name",
                          select=lambda rec: rec["user_id"] == user)

    def get_keypair(self, req: Request, mv: tuple[int, int]) -> Response:
        record = self.cloud.get("compute.keypair", req.match["id"])  # type: ignore[index]
        user = req.arg("user_id") or req.token.user_id  # type: ignore[union-attr]
        if record is None or record["user_id"] != user:
            return error(404, f"Keypair {req.match['id']} not found.")  # type: ignore[index]
        body = public(record)
        body.update({"id": record.get("_n", 1), "deleted": False, "deleted_at": None,
                     "created_at": record.get("created_at"), "updated_at": None})
        return Response(200, {"keypair": body})
