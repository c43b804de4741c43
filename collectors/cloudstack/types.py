"""The 23 CloudStack entity types the collector declares: parents, volatile fields and sets.

Owns only declarations (``EntityType`` values). Volatile paths are the live usage
counters and heartbeats that move on an idle cloud (field names from the 4.18+ API
responses, cross-checked with apache/cloudstack-go's structs); set paths are lists
whose order the API does not promise. Never does I/O.
"""

from __future__ import annotations

from collectors.base import EntityType

FINGERPRINT = "cloudstack-query-api/1"

# Async-job markers appear on any object while a job runs on it.
_JOB = ("/jobid", "/jobstatus")

# Resource counters of accounts, domains and projects move whenever anyone deploys anything.
_RESOURCES = ("vm", "ip", "volume", "snapshot", "template", "project", "network", "vpc", "cpu", "memory",
              "primarystorage", "secondarystorage", "backup", "backupstorage", "bucket", "objectstorage", "gpu")
_COUNTERS = tuple(f"/{r}{suffix}" for r in _RESOURCES for suffix in ("total", "available")) + (
    "/vmrunning", "/vmstopped")

HOST_VOLATILE = _JOB + (
    "/cpuused", "/cpuallocated", "/cpuallocatedpercentage", "/cpuallocatedvalue", "/cpuallocatedwithoverprovisioning",
    "/cpuloadaverage", "/averageload", "/memoryused", "/memoryallocated", "/memoryallocatedpercentage",
    "/memoryallocatedbytes", "/networkkbsread", "/networkkbswrite", "/lastpinged", "/disksizeallocated", "/gpuused",
)
VM_VOLATILE = _JOB + (
    "/cpuused", "/networkkbsread", "/networkkbswrite", "/networkread", "/networkwrite", "/diskioread", "/diskiowrite",
    "/diskkbsread", "/diskkbswrite", "/diskiopstotal", "/memorykbs", "/memoryintfreekbs", "/memorytargetkbs",
    "/receivedbytes", "/sentbytes",
)
VOLUME_VOLATILE = _JOB + (
    "/diskioread", "/diskiowrite", "/diskkbsread", "/diskkbswrite", "/diskiopstotal", "/physicalsize", "/utilization",
)
POOL_VOLATILE = _JOB + ("/disksizeused", "/disksizeallocated", "/usediops", "/allocatediops")

ZONE = EntityType("cloudstack.zone", volatile=_JOB, sets=("/tags",), fingerprint=FINGERPRINT,
                  description="Availability zone (listZones)")
POD = EntityType("cloudstack.pod", parent="cloudstack.zone", volatile=_JOB, fingerprint=FINGERPRINT,
                 description="Pod of a zone (listPods)")
CLUSTER = EntityType("cloudstack.cluster", parent="cloudstack.pod", volatile=_JOB, fingerprint=FINGERPRINT,
                     description="Hypervisor cluster of a pod (listClusters)")
HOST = EntityType("cloudstack.host", parent="cloudstack.cluster", volatile=HOST_VOLATILE, fingerprint=FINGERPRINT,
                  description="Hypervisor or system host; parent cluster, or zone for hosts without one (listHosts)")
STORAGEPOOL = EntityType("cloudstack.storagepool", parent="cloudstack.cluster", volatile=POOL_VOLATILE,
                         fingerprint=FINGERPRINT,
                         description="Primary storage; parent cluster, or zone when scope is ZONE (listStoragePools)")
IMAGESTORE = EntityType("cloudstack.imagestore", parent="cloudstack.zone", volatile=_JOB + ("/disksizeused",),
                        fingerprint=FINGERPRINT, description="Secondary storage (listImageStores)")
SYSTEMVM = EntityType("cloudstack.systemvm", parent="cloudstack.host", volatile=_JOB + ("/activeviewersessions",),
                      fingerprint=FINGERPRINT,
                      description="SSVM or console proxy; parent host, else zone (listSystemVms)")
ROUTER = EntityType("cloudstack.router", parent="cloudstack.host", volatile=_JOB + ("/healthcheckresults",),
                    sets=("/nic",), fingerprint=FINGERPRINT,
                    description="Virtual router; parent host, else zone (listRouters)")
VIRTUALMACHINE = EntityType("cloudstack.virtualmachine", parent="cloudstack.host", volatile=VM_VOLATILE,
                            sets=("/securitygroup", "/affinitygroup", "/tags", "/nic/*/secondaryip"),
                            fingerprint=FINGERPRINT,
                            description="Guest VM; parent host while it has one, else zone (listVirtualMachines)")
VOLUME = EntityType("cloudstack.volume", parent="cloudstack.virtualmachine", volatile=VOLUME_VOLATILE, sets=("/tags",),
                    fingerprint=FINGERPRINT, description="Disk; parent VM when attached, else zone (listVolumes)")
SNAPSHOT = EntityType("cloudstack.snapshot", parent="cloudstack.volume", volatile=_JOB, sets=("/tags",),
                      fingerprint=FINGERPRINT, description="Volume snapshot (listSnapshots)")
NETWORK = EntityType("cloudstack.network", parent="cloudstack.zone", volatile=_JOB, sets=("/service", "/tags"),
                     fingerprint=FINGERPRINT, description="Guest network (listNetworks)")
VPC = EntityType("cloudstack.vpc", parent="cloudstack.zone", volatile=_JOB, sets=("/service", "/network", "/tags"),
                 fingerprint=FINGERPRINT, description="VPC (listVPCs)")
PUBLICIPADDRESS = EntityType("cloudstack.publicipaddress", parent="cloudstack.zone", volatile=_JOB, sets=("/tags",),
                             fingerprint=FINGERPRINT, description="Allocated public IP (listPublicIpAddresses)")
TEMPLATE = EntityType("cloudstack.template", volatile=_JOB + ("/zones/*/downloaddetails",), sets=("/zones", "/tags"),
                      fingerprint=FINGERPRINT, description="Template, one entity over its zones (listTemplates)")
ISO = EntityType("cloudstack.iso", volatile=_JOB + ("/zones/*/downloaddetails",), sets=("/zones", "/tags"),
                 fingerprint=FINGERPRINT, description="ISO, one entity over its zones (listIsos)")
SERVICEOFFERING = EntityType("cloudstack.serviceoffering", volatile=_JOB, fingerprint=FINGERPRINT,
                             description="Compute offering (listServiceOfferings)")
DISKOFFERING = EntityType("cloudstack.diskoffering", volatile=_JOB, fingerprint=FINGERPRINT,
                          description="Disk offering (listDiskOfferings)")
NETWORKOFFERING = EntityType("cloudstack.networkoffering", volatile=_JOB, sets=("/service",), fingerprint=FINGERPRINT,
                             description="Network offering (listNetworkOfferings)")
DOMAIN = EntityType("cloudstack.domain", parent="cloudstack.domain", volatile=_JOB + _COUNTERS,
                    fingerprint=FINGERPRINT, description="Domain; parent domain (listDomains)")
ACCOUNT = EntityType("cloudstack.account", parent="cloudstack.domain", volatile=_JOB + _COUNTERS, sets=("/user",),
                     fingerprint=FINGERPRINT, description="Account; parent domain; user keys removed (listAccounts)")
PROJECT = EntityType("cloudstack.project", parent="cloudstack.domain", volatile=_JOB + _COUNTERS,
                     sets=("/owner", "/tags"), fingerprint=FINGERPRINT, description="Project (listProjects)")
SECURITYGROUP = EntityType("cloudstack.securitygroup", volatile=_JOB,
                           sets=("/ingressrule", "/egressrule", "/tags", "/virtualmachineids",
                                 "/ingressrule/*/tags", "/egressrule/*/tags"),
                           fingerprint=FINGERPRINT, description="Security group with its rules (listSecurityGroups)")

ALL_TYPES: tuple[EntityType, ...] = (
    ZONE, POD, CLUSTER, HOST, STORAGEPOOL, IMAGESTORE, SYSTEMVM, ROUTER, VIRTUALMACHINE, VOLUME, SNAPSHOT, NETWORK,
    VPC, PUBLICIPADDRESS, TEMPLATE, ISO, SERVICEOFFERING, DISKOFFERING, NETWORKOFFERING, DOMAIN, ACCOUNT, PROJECT,
    SECURITYGROUP,
)
