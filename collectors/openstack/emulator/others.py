"""Emulated Glance v2 (images), Cinder v3 (volumes, snapshots), Placement (resource
providers) and Heat v1 (stacks): each with its own paging and version documents.
"""

from __future__ import annotations

import copy
import random
from typing import Any

from collectors.openstack.emulator.cloud import Cloud
from collectors.openstack.emulator.common import microversion, next_params, paginate, public, version_headers
from collectors.openstack.emulator.http import EmulatorServer, Request, Response, error

CINDER_MAX = (3, 70)
PLACEMENT_MAX = (1, 39)


class Others:
    """Routes of the four smaller services; kinds in ``missing`` answer 404."""

    def __init__(self, server: EmulatorServer, cloud: Cloud, seed: int = 0) -> None:
        self.cloud = cloud
        self.missing: set[str] = set()
        self._random = random.Random(seed)
        add = server.route
        add("GET", r"/image", self.glance_versions, public=True)
        add("GET", r"/image/versions", self.glance_versions, public=True)
        add("GET", r"/image/v2/images", self.list_images)
        add("GET", r"/image/v2/images/(?P<id>[^/]+)", self.get_image)
        add("GET", r"/volume", self.cinder_versions, public=True)
        add("GET", r"/volume/v3", self.cinder_versions, public=True)
        add("GET", r"/volume/v3/(?P<project>[^/]+)", self.cinder_versions, public=True)
        for name, kind in (("volumes", "block_storage.volume"), ("snapshots", "block_storage.snapshot")):
            add("GET", rf"/volume/v3/(?P<project>[^/]+)/{name}(?:/detail)?", self._cinder_lister(name, kind))
            add("GET", rf"/volume/v3/(?P<project>[^/]+)/{name}/(?P<id>[^/]+)", self._cinder_getter(name, kind))
        add("GET", r"/placement", self.placement_root, public=True)
        add("GET", r"/placement/resource_providers", self.list_providers)
        add("GET", r"/placement/resource_providers/(?P<id>[^/]+)", self.get_provider)
        for part in ("inventories", "traits", "aggregates"):
            add("GET", rf"/placement/resource_providers/(?P<id>[^/]+)/{part}", self._provider_part(part))
        add("GET", r"/heat-api", self.heat_versions, public=True)
        add("GET", r"/heat-api/v1/(?P<project>[^/]+)/stacks", self.list_stacks)
        add("GET", r"/heat-api/v1/(?P<project>[^/]+)/stacks/(?:[^/]+/)?(?P<id>[^/]+)", self.get_stack)

    # -- Glance -----------------------------------------------------------------------
    def glance_versions(self, req: Request) -> Response:
        versions = [{"id": f"v2.{n}", "status": "CURRENT" if n == 9 else "SUPPORTED",
                     "links": [{"rel": "self", "href": req.base + "/image/v2/"}]} for n in range(9, -1, -1)]
        return Response(300 if req.path == "/image" else 200, {"versions": versions})

    def _image(self, record: dict[str, Any]) -> dict[str, Any]:
        body = public(record)
        if len(body.get("tags") or ()) > 1:
            body["tags"] = self._random.sample(body["tags"], len(body["tags"]))
        body.update({"self": f"/v2/images/{record['id']}", "file": f"/v2/images/{record['id']}/file",
                     "schema": "/v2/schemas/image"})
        return body

    def list_images(self, req: Request) -> Response:
        if "image.image" in self.missing:
            return error(404, "The resource could not be found.")
        visibility = req.arg("visibility")

        def select(record: dict[str, Any]) -> bool:
            return visibility in (None, "all") or record["visibility"] == visibility
        with self.cloud.lock:
            result = paginate(req, self.cloud.collections["image.image"], select=select,
                              default_limit=25, max_limit=1000)
            if isinstance(result, Response):
                return result
            page, marker = result
            items = [self._image(r) for r in page]
        body: dict[str, Any] = {"images": items, "first": "/v2/images", "schema": "/v2/schemas/images"}
        if marker is not None:
            body["next"] = "/v2/images?" + "&".join(f"{k}={v}" for k, v in next_params(req, marker).items())
        return Response(200, body)

    def get_image(self, req: Request) -> Response:
        record = self.cloud.get("image.image", req.match["id"])  # type: ignore[index]
        if record is None or "image.image" in self.missing:
            return error(404, f"No image found with ID {req.match['id']}")  # type: ignore[index]
        return Response(200, self._image(record))

    # -- Cinder -----------------------------------------------------------------------
    def cinder_versions(self, req: Request) -> Response:
        doc = {"id": "v3.0", "status": "CURRENT", "version": f"{CINDER_MAX[0]}.{CINDER_MAX[1]}", "min_version": "3.0",
               "updated": "2023-08-31T00:00:00Z", "links": [{"rel": "self", "href": req.base + "/volume/v3/"}],
               "media-types": [{"base": "application/json",
                                "type": "application/vnd.openstack.volume+json;version=3"}]}
        return Response(300 if req.path == "/volume" else 200, {"versions": [doc]})

    def _cinder_lister(self, name: str, kind: str):  # type: ignore[no-untyped-def]
        def handler(req: Request) -> Response:
            mv = microversion(req, ("volume", "block-storage"), (3, 0), CINDER_MAX)
            if isinstance(mv, Response):
                return mv
            if kind in self.missing:
                return error(404, "The resource could not be found.")
            project = req.match["project"]  # type: ignore[index]
            every = req.flag("all_tenants")
            field = "os-vol-tenant-attr:tenant_id" if name == "volumes" else \
                "os-extended-snapshot-attributes:project_id"
            with self.cloud.lock:
                result = paginate(req, self.cloud.collections[kind], marker_status=404,
                                  select=None if every else (lambda r: r[field] == project))
                if isinstance(result, Response):
                    return result
                page, marker = result
                items = [self._cinder(req, name, r) for r in page]
            body: dict[str, Any] = {name: items}
            if marker is not None:
                body[f"{name}_links"] = [{"rel": "next", "href": req.url(req.path, next_params(req, marker))}]
            return Response(200, body, version_headers("volume", mv))
        return handler

    def _cinder(self, req: Request, name: str, record: dict[str, Any]) -> dict[str, Any]:
        body = public(record)
        if name == "volumes":
            project = record["os-vol-tenant-attr:tenant_id"]
            body["links"] = [{"rel": "self", "href": f"{req.base}/volume/v3/{project}/volumes/{record['id']}"},
                             {"rel": "bookmark", "href": f"{req.base}/volume/{project}/volumes/{record['id']}"}]
        return body

    def _cinder_getter(self, name: str, kind: str):  # type: ignore[no-untyped-def]
        def handler(req: Request) -> Response:
            record = self.cloud.get(kind, req.match["id"])  # type: ignore[index]
            if record is None or kind in self.missing:
                return error(404, f"{name[:-1].capitalize()} {req.match['id']} could not be found.")  # type: ignore[index]
            return Response(200, {name[:-1]: self._cinder(req, name, record)})
        return handler

    # -- Placement --------------------------------------------------------------------
    def placement_root(self, req: Request) -> Response:
        return Response(200, {"versions": [{"id": "v1.0", "max_version": f"{PLACEMENT_MAX[0]}.{PLACEMENT_MAX[1]}",
                                            "min_version": "1.0", "status": "CURRENT",
                                            "links": [{"rel": "self", "href": ""}]}]})

    def _provider(self, record: dict[str, Any], mv: tuple[int, int]) -> dict[str, Any]:
        body = public(record)
        if mv < (1, 14):
            body.pop("parent_provider_uuid", None)
            body.pop("root_provider_uuid", None)
        base = f"/placement/resource_providers/{record['uuid']}"
        body["links"] = [{"rel": "self", "href": base}, {"rel": "inventories", "href": base + "/inventories"},
                         {"rel": "usages", "href": base + "/usages"}]
        if mv >= (1, 1):
            body["links"].append({"rel": "aggregates", "href": base + "/aggregates"})
        if mv >= (1, 6):
            body["links"].append({"rel": "traits", "href": base + "/traits"})
        if mv >= (1, 11):
            body["links"].append({"rel": "allocations", "href": base + "/allocations"})
        return body

    def list_providers(self, req: Request) -> Response:
        mv = microversion(req, ("placement",), (1, 0), PLACEMENT_MAX)
        if isinstance(mv, Response):
            return mv
        if "placement.resource_provider" in self.missing:
            return error(404, "The resource could not be found.")
        items = [self._provider(r, mv) for r in self.cloud.all("placement.resource_provider")]
        return Response(200, {"resource_providers": items}, version_headers("placement", mv))

    def get_provider(self, req: Request) -> Response:
        mv = microversion(req, ("placement",), (1, 0), PLACEMENT_MAX)
        if isinstance(mv, Response):
            return mv
        record = self.cloud.get("placement.resource_provider", req.match["id"])  # type: ignore[index]
        if record is None:
            return error(404, "No resource provider with uuid found")
        return Response(200, self._provider(record, mv), version_headers("placement", mv))

    def _provider_part(self, part: str):  # type: ignore[no-untyped-def]
        """GET /resource_providers/{uuid}/inventories|traits|aggregates, shaped as Placement answers."""
        minimum = {"inventories": (1, 0), "traits": (1, 6), "aggregates": (1, 1)}[part]

        def handler(req: Request) -> Response:
            mv = microversion(req, ("placement",), (1, 0), PLACEMENT_MAX)
            if isinstance(mv, Response):
                return mv
            if mv < minimum:
                return error(404, "The resource could not be found.")
            record = self.cloud.get("placement.resource_provider", req.match["id"])  # type: ignore[index]
            if record is None:
                return error(404, f"No resource provider with uuid {req.match['id']} found")  # type: ignore[index]
            body: dict[str, Any] = {part: copy.deepcopy(record[f"_{part}"])}
            if part != "aggregates" or mv >= (1, 19):
                body["resource_provider_generation"] = record["generation"]
            return Response(200, body, version_headers("placement", mv))
        return handler

    # -- Heat -------------------------------------------------------------------------
    def heat_versions(self, req: Request) -> Response:
        return Response(300, {"versions": [{"id": "v1.0", "status": "CURRENT",
                                            "links": [{"rel": "self", "href": req.base + "/heat-api/v1/"}]}]})

    def _stack(self, req: Request, record: dict[str, Any]) -> dict[str, Any]:
        body = public(record)
        body["links"] = [{"rel": "self", "href": f"{req.base}/heat-api/v1/{record['project']}/stacks/"
                                                 f"{record['stack_name']}/{record['id']}"}]
        return body

    def list_stacks(self, req: Request) -> Response:
        if "orchestration.stack" in self.missing:
            return error(404, "The resource could not be found.")
        project = req.match["project"]  # type: ignore[index]
        every = req.flag("global_tenant")
        with self.cloud.lock:
            result = paginate(req, self.cloud.collections["orchestration.stack"],
                              select=None if every else (lambda r: r["project"] == project))
            if isinstance(result, Response):
                return result
            page, marker = result
            items = [self._stack(req, r) for r in page]
        body: dict[str, Any] = {"stacks": items}
        if marker is not None:
            body["links"] = [{"rel": "next", "href": req.url(req.path, next_params(req, marker))}]
        return Response(200, body)

    def get_stack(self, req: Request) -> Response:
        record = self.cloud.get("orchestration.stack", req.match["id"])  # type: ignore[index]
        if record is None or "orchestration.stack" in self.missing:
            return error(404, f"The Stack ({req.match['id']}) could not be found.")  # type: ignore[index]
        return Response(200, {"stack": self._stack(req, record)})
