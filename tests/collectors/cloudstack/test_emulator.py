"""The emulator answers like a CloudStack management server: shapes, paging, errors, signatures."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from collectors.cloudstack.emulator import CloudStackEmulator
from collectors.cloudstack.signing import sign


def call(emu: CloudStackEmulator, method: str = "POST", secret: str | None = None, **params: Any) -> requests.Response:
    """Send one signed request (form body for POST, query string for GET)."""
    data = {"response": "json", "apiKey": emu.api_key, **{k: str(v) for k, v in params.items()}}
    data["signature"] = sign(data, secret or emu.secret_key)
    if method == "GET":
        return requests.get(emu.endpoint, params=data, timeout=5)
    return requests.post(emu.endpoint, data=data, timeout=5)


class TestShapes:
    def test_list_answer_has_count_and_object_list(self, emulator: CloudStackEmulator) -> None:
        """A list answer is {"<cmd>response": {"count": N, "<object>": [...]}}."""
        body = call(emulator, command="listZones").json()
        assert body["listzonesresponse"]["count"] == 2
        assert [z["name"] for z in body["listzonesresponse"]["zone"]] == ["zone-1", "zone-2"]

    def test_empty_answer_is_an_empty_object(self) -> None:
        """B15: An empty list is answered with {"<cmd>response": {}}."""
        with CloudStackEmulator() as emu:
            assert call(emu, command="listVirtualMachines", listall="true").json() == {
                "listvirtualmachinesresponse": {}}

    def test_get_and_post_are_both_accepted(self, emulator: CloudStackEmulator) -> None:
        """GET with a query string and POST with a form body give the same answer."""
        assert call(emulator, "GET", command="listPods").json() == call(emulator, command="listPods").json()

    def test_json_content_type(self, emulator: CloudStackEmulator) -> None:
        """Answers are application/json."""
        assert call(emulator, command="listZones").headers["Content-Type"].startswith("application/json")

    def test_other_paths_are_404(self, emulator: CloudStackEmulator) -> None:
        """Only /client/api is served."""
        assert requests.get(emulator.endpoint.replace("/client/api", "/other"), timeout=5).status_code == 404


class TestAuth:
    def test_wrong_signature_is_401_with_error_object(self, emulator: CloudStackEmulator) -> None:
        """A bad signature gets 401 and CloudStack's error object."""
        response = call(emulator, secret="wrong", command="listZones")
        assert response.status_code == 401
        text = "unable to verify user credentials and/or request signature"
        assert response.json() == {"listzonesresponse": {"uuidList": [], "errorcode": 401, "errortext": text}}

    def test_expired_request_is_401(self, emulator: CloudStackEmulator) -> None:
        """A signatureVersion 3 request past its expiry is refused."""
        past = (datetime.now(UTC) - timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S%z")
        assert call(emulator, command="listZones", signatureVersion="3", expires=past).status_code == 401

    def test_unknown_command_is_401(self, emulator: CloudStackEmulator) -> None:
        """Like verifyRequest, an unknown command is answered 401."""
        assert call(emulator, command="listNothing").status_code == 401

    def test_forbidden_command_is_401(self, emulator: CloudStackEmulator) -> None:
        """A command the role may not call answers 401, like a bad signature."""
        emulator.forbid_command("listHosts")
        assert call(emulator, command="listHosts").status_code == 401

    def test_list_capabilities_answers_one_object(self, emulator: CloudStackEmulator) -> None:
        """listCapabilities answers a single capability object."""
        body = call(emulator, command="listCapabilities").json()
        assert body["listcapabilitiesresponse"]["capability"]["cloudstackversion"] == "4.19.1.0"

    def test_disabled_command_is_432(self, emulator: CloudStackEmulator) -> None:
        """A command made unavailable answers 432."""
        emulator.disable_command("listVPCs")
        body = call(emulator, command="listVPCs").json()["listvpcsresponse"]
        assert body["errorcode"] == 432


class TestPaging:
    def test_pages_split_the_list(self, emulator: CloudStackEmulator) -> None:
        """page/pagesize return consecutive slices, each with the total count."""
        first = call(emulator, command="listHosts", page=1, pagesize=4).json()["listhostsresponse"]
        third = call(emulator, command="listHosts", page=3, pagesize=4).json()["listhostsresponse"]
        assert (first["count"], len(first["host"]), third["count"], len(third["host"])) == (10, 4, 10, 2)

    def test_page_past_the_end_has_count_but_no_list(self, emulator: CloudStackEmulator) -> None:
        """A page beyond the last carries the count and no list."""
        assert call(emulator, command="listHosts", page=9, pagesize=4).json() == {"listhostsresponse": {"count": 10}}

    def test_pagesize_above_maximum_is_431(self, emulator: CloudStackEmulator) -> None:
        """A pagesize above the maximum is refused with 431 and the limit in the text."""
        response = call(emulator, command="listHosts", page=1, pagesize=501)
        body = response.json()["listhostsresponse"]
        assert (response.status_code, body["errorcode"], body["cserrorcode"]) == (431, 431, 4350)
        assert body["errortext"] == "Page size can't exceed max allowed page size value: 500"


class TestOwnership:
    def test_without_listall_only_own_resources(self, emulator: CloudStackEmulator) -> None:
        """Without listall an admin sees only its own account's VMs."""
        emulator.inventory.deploy_vm("alice-vm", host=emulator.demo.hosts[0], template=emulator.demo.template,
                                     offering=emulator.demo.offering, network=emulator.demo.network,
                                     account=emulator.inventory.first("account", name="alice"))
        own = call(emulator, command="listVirtualMachines").json()["listvirtualmachinesresponse"]["count"]
        every = call(emulator, command="listVirtualMachines", listall="true").json()["listvirtualmachinesresponse"]
        assert (own, every["count"]) == (5, 6)

    def test_project_minus_one_lists_project_resources_only(self, emulator: CloudStackEmulator) -> None:
        """projectid=-1 lists only project resources; without it they are skipped."""
        body = call(emulator, command="listVirtualMachines", listall="true", projectid="-1").json()
        vms = body["listvirtualmachinesresponse"]["virtualmachine"]
        assert [vm["project"] for vm in vms] == ["webshop"]


class TestById:
    def test_gone_id_gives_empty_answer(self, emulator: CloudStackEmulator) -> None:
        """Listing by the id of a removed VM answers {}."""
        vm = emulator.demo.vms[2]
        emulator.inventory.destroy_vm(vm["id"])
        assert call(emulator, command="listVirtualMachines", listall="true", id=vm["id"]).json() == {
            "listvirtualmachinesresponse": {}}

    def test_never_known_id_is_431(self, emulator: CloudStackEmulator) -> None:
        """A uuid that never existed is refused like ParamProcessWorker does."""
        response = call(emulator, command="listVirtualMachines", id="00000000-0000-4000-8000-000000000000")
        assert response.status_code == 431


class TestFaults:
    def test_injected_error_is_used_up(self, emulator: CloudStackEmulator) -> None:
        """An injected 530 answers once, then the command works again."""
        emulator.inject_error("listZones", 530)
        assert call(emulator, command="listZones").status_code == 530
        assert call(emulator, command="listZones").status_code == 200

    def test_request_lines_are_not_logged(self, emulator: CloudStackEmulator, capfd: Any) -> None:
        """The server prints nothing (a GET request line holds the key and the signature)."""
        call(emulator, "GET", command="listZones")
        out, err = capfd.readouterr()
        assert emulator.api_key not in out + err and "signature" not in out + err

    def test_scales_to_ten_thousand_vms(self) -> None:
        """10,000 VMs list in pages of 500 with the right count."""
        with CloudStackEmulator() as emu:
            emu.seed_scale(10_000)
            body = call(emu, command="listVirtualMachines", listall="true", page=20, pagesize=500).json()
            assert body["listvirtualmachinesresponse"]["count"] == 10_000
            assert len(body["listvirtualmachinesresponse"]["virtualmachine"]) == 500
