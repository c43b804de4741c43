"""What ``poller demo`` needs from the libvirt collector: source options and a test-driver node it can change.

Owns the demo node file (shipped as ``data/demo-node.xml``) and the scripted changes
applied to a copy of it. It never touches anything but the file it is given and never
imports libvirt.
"""

from __future__ import annotations

import os
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import quote

DEMO_NODE = Path(__file__).parent / "data" / "demo-node.xml"
TEST_NAMESPACE = "http://libvirt.org/schemas/domain/test/1.0"


def demo_source_options(node_file: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """Options for a demo source on libvirt's test driver: its built-in node, or ``node_file`` (absolute path)."""
    if node_file is None:
        return {"uri": "test:///default"}
    return {"uri": f"test://{quote(str(Path(node_file).resolve()))}"}  # a URI: spaces and the like escaped


def seed_demo(directory: str | os.PathLike[str]) -> Path:
    """Copy the demo node into ``directory`` and return its path (pass it to demo_source_options)."""
    target = Path(directory) / "libvirt-demo-node.xml"
    shutil.copyfile(DEMO_NODE, target)
    return target


def apply_demo_changes(node_file: str | os.PathLike[str]) -> list[str]:
    """The demo's scripted day on the node file: grow a VM, start one, remove one, fill a disk; returns it in words.

    Filling the disk only moves allocation, which is volatile: it must produce no notification.
    """
    ET.register_namespace("test", TEST_NAMESPACE)
    tree = ET.parse(node_file)
    node = tree.getroot()
    _domain(node, "web-01").findall("memory")[0].text = "4194304"
    batch = _domain(node, "batch-01")
    runstate = batch.find(f"{{{TEST_NAMESPACE}}}runstate")
    if runstate is not None:
        batch.remove(runstate)
    node.remove(_domain(node, "web-02"))
    for volume in node.iter("volume"):
        if volume.findtext("name") == "db-01.qcow2":
            allocation = volume.find("allocation")
            if allocation is not None:
                allocation.text = "53687091200"
    tree.write(node_file, encoding="unicode", xml_declaration=True)
    return [
        "grew VM web-01 from 2 to 4 GiB",
        "started VM batch-01",
        "undefined VM web-02",
        "db-01.qcow2 grew by 10 GiB (volatile: no notification)",
    ]


def _domain(node: ET.Element, name: str) -> ET.Element:
    for domain in node.findall("domain"):
        if domain.findtext("name") == name:
            return domain
    raise KeyError(f"the demo node has no domain {name}")
