"""The ``openstack`` source's options: validation into one frozen value, no I/O.

Either ``cloud`` (a clouds.yaml entry, or ``envvars`` for the ``OS_*`` variables of an
openrc file, as openstackclient reads them), or ``auth`` (an inline mapping with an
``auth_type``: ``password``, ``v3applicationcredential`` or ``token``); with neither,
the cloud named by ``OS_CLOUD``. Every error names ``sources.<name>.options.<field>``
and never echoes a password or secret.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from collectors.base import optional_option, reject_unknown_options
from collectors.durations import HINT, duration_option
from collectors.durations import parse_duration as duration_seconds
from collectors.errors import OptionError

TOP_LEVEL = ("cloud", "auth", "region_name", "interface", "verify", "cacert", "full_every",
             "changes_since_margin", "page_size", "timeout")
ENVVARS = "envvars"  # openstacksdk's name for the cloud made of the OS_* environment variables
AUTH_TYPES = ("password", "v3applicationcredential", "token")
_CONNECTION = ("region_name", "interface", "verify", "cacert")
_SCOPE = ("project_name", "tenant_name", "project_id", "tenant_id", "project_domain_name", "project_domain_id",
          "domain_name")
_USER = ("username", "user_id", "user_domain_name", "user_domain_id")
AUTH_KNOWN_BY_TYPE = {
    "password": ("auth_url", "password", *_USER, *_SCOPE),
    "v3applicationcredential": ("auth_url", "application_credential_id", "application_credential_name",
                                "application_credential_secret", *_USER),
    "token": ("auth_url", "token", *_SCOPE),
}
AUTH_REQUIRED = ("auth_url", "username", "password")
AUTH_KNOWN = tuple(dict.fromkeys(k for keys in AUTH_KNOWN_BY_TYPE.values() for k in keys)) + _CONNECTION
# Ralph's client configuration carries these; openstacksdk discovers the API versions itself.
AUTH_IGNORED = ("version", "identity_api_version", "auth_version", "api_version")
INTERFACES = ("public", "internal", "admin")


@dataclass(frozen=True)
class OpenStackOptions:
    """Validated options. ``auth`` holds openstacksdk ``auth`` keys; ``full_every`` a run count or a duration."""

    cloud: str | None = None
    auth: Mapping[str, str] = field(default_factory=dict)
    auth_type: str = "password"
    region_name: str | None = None
    interface: str | None = None
    verify: bool | None = None
    cacert: str | None = None
    full_every: int | timedelta = 10
    changes_since_margin: timedelta = timedelta(minutes=5)
    page_size: int = 1000
    timeout: float = 60.0
    notes: tuple[str, ...] = ()

    @property
    def username(self) -> str | None:
        return self.auth.get("username")

    @property
    def principal(self) -> str:
        """Whose credentials these are, safe to show (never a secret)."""
        if self.auth_type == "v3applicationcredential":
            cred = self.auth.get("application_credential_id") or self.auth.get("application_credential_name")
            return f"application credential {cred}"
        if self.auth_type == "token":
            return "the configured token"
        return self.auth.get("username") or self.auth.get("user_id") or "the configured user"


def parse_duration(source: str, name: str, value: Any) -> timedelta:
    """A duration (collectors.durations: ``90s``, ``30m``, ``1h30m``, ``1d``, ``1w`` or seconds) as a timedelta."""
    seconds = duration_seconds(value)
    if seconds is None:
        shown = repr(value) if isinstance(value, str | int | float) else "this value"
        raise OptionError(source, name, f"must be a duration like {HINT}, not {shown}")
    return timedelta(seconds=seconds)


def parse_options(source: str, options: Mapping[str, Any]) -> OpenStackOptions:
    """Validate a source's options; OptionError names the first bad field."""
    reject_unknown_options(source, options, TOP_LEVEL)
    cloud = optional_option(source, options, "cloud", str, None)
    raw_auth = optional_option(source, options, "auth", dict, None)
    if cloud is not None and raw_auth is not None:
        raise OptionError(source, "cloud", "give either cloud (a clouds.yaml name) or auth (an inline mapping)")
    if cloud is None and raw_auth is None:
        cloud = os.environ.get("OS_CLOUD") or None
        if cloud is None:
            raise OptionError(source, "cloud", "give cloud (a clouds.yaml name, or envvars for the OS_* variables), "
                                               "auth (an inline mapping), or set OS_CLOUD")
    auth_type, auth, notes, inline = _parse_auth(source, raw_auth) if raw_auth is not None else \
        ("password", {}, (), {})
    interface = optional_option(source, options, "interface", str, inline.get("interface"))
    if interface is not None and interface not in INTERFACES:
        raise OptionError(source, "interface", f"must be one of {', '.join(INTERFACES)}")
    full_every = options.get("full_every", 10)
    if isinstance(full_every, int) and not isinstance(full_every, bool):
        if full_every < 1:
            raise OptionError(source, "full_every", "must be at least 1 (1: every run is a full snapshot)")
    else:
        full_every = parse_duration(source, "full_every", full_every)
        if full_every <= timedelta(0):
            raise OptionError(source, "full_every", "must be a positive duration")
    page_size = optional_option(source, options, "page_size", int, 1000)
    if not 1 <= page_size <= 10000:
        raise OptionError(source, "page_size", "must be between 1 and 10000")
    timeout = duration_option(source, options, "timeout", 60.0)
    if timeout <= 0:
        raise OptionError(source, "timeout", "must be a positive duration (e.g. 60 or 2m)")
    return OpenStackOptions(
        cloud=cloud, auth=auth, auth_type=auth_type,
        region_name=optional_option(source, options, "region_name", str, inline.get("region_name")),
        interface=interface,
        verify=optional_option(source, options, "verify", bool, inline.get("verify")),
        cacert=optional_option(source, options, "cacert", str, inline.get("cacert")),
        full_every=full_every,
        changes_since_margin=parse_duration(source, "changes_since_margin", options.get("changes_since_margin", "5m")),
        page_size=page_size, timeout=float(timeout), notes=notes,
    )


def _parse_auth(source: str, raw: Mapping[str, Any]) -> tuple[str, dict[str, str], tuple[str, ...], dict[str, Any]]:
    """(auth type, openstacksdk auth keys, notes, connection keys given inside ``auth``)."""
    auth_type = raw.get("auth_type", "password")
    if auth_type not in AUTH_TYPES:
        raise OptionError(source, "auth.auth_type", f"must be one of {', '.join(AUTH_TYPES)}")
    known = AUTH_KNOWN_BY_TYPE[auth_type] + _CONNECTION + ("auth_type",)
    notes = []
    for name in raw:
        if name in AUTH_IGNORED:
            notes.append(f"sources.{source}.options.auth.{name} is ignored: openstacksdk discovers API versions")
        elif name not in known:
            raise OptionError(source, f"auth.{name}",
                              f"unknown key for auth_type {auth_type} (known: {', '.join(sorted(known))})")
    auth: dict[str, str] = {}
    for name in AUTH_KNOWN_BY_TYPE[auth_type]:
        if raw.get(name) is None:
            continue
        if not isinstance(raw[name], str):
            raise OptionError(source, f"auth.{name}", "must be a string")
        target = {"tenant_name": "project_name", "tenant_id": "project_id"}.get(name, name)
        auth[target] = raw[name]
    _require(source, raw, "auth_url")
    if auth_type == "password":
        _require_password_auth(source, raw, auth)
    elif auth_type == "token":
        _require(source, raw, "token")
        _require_scope(source, raw, auth)
    else:
        _require_application_credential(source, raw, auth)
    inline = {k: raw[k] for k in _CONNECTION if raw.get(k) is not None}
    if "verify" in inline and not isinstance(inline["verify"], bool):
        raise OptionError(source, "auth.verify", "must be true or false")
    for name in ("region_name", "interface", "cacert"):
        if name in inline and not isinstance(inline[name], str):
            raise OptionError(source, f"auth.{name}", "must be a string")
    return auth_type, auth, tuple(notes), inline


def _require(source: str, raw: Mapping[str, Any], name: str) -> None:
    if not isinstance(raw.get(name), str) or not raw[name]:
        raise OptionError(source, f"auth.{name}", "is required (a non-empty string)")


def _require_password_auth(source: str, raw: Mapping[str, Any], auth: dict[str, str]) -> None:
    if "user_id" not in raw:
        _require(source, raw, "username")
    _require(source, raw, "password")
    _require_scope(source, raw, auth)
    if "user_domain_id" not in auth and "user_id" not in auth:
        auth.setdefault("user_domain_name", "Default")


def _require_scope(source: str, raw: Mapping[str, Any], auth: dict[str, str]) -> None:
    """A project scope (name or id); ``domain_name`` sets both domains; names default to Default."""
    if "project_name" in raw and "tenant_name" in raw and raw["project_name"] != raw["tenant_name"]:
        raise OptionError(source, "auth.tenant_name", "is an alias of project_name; give only one")
    if "project_name" not in auth and "project_id" not in auth:
        raise OptionError(source, "auth.project_name", "is required (or project_id; tenant_name is an alias)")
    if "domain_name" in auth:
        domain = auth.pop("domain_name")
        if "username" in auth:
            auth.setdefault("user_domain_name", domain)
        auth.setdefault("project_domain_name", domain)
    if "project_domain_id" not in auth and "project_id" not in auth:
        auth.setdefault("project_domain_name", "Default")


def _require_application_credential(source: str, raw: Mapping[str, Any], auth: dict[str, str]) -> None:
    """An id and secret, or a name, secret and user (name with its domain, or id); no project scope."""
    _require(source, raw, "application_credential_secret")
    if raw.get("application_credential_id") is not None:
        _require(source, raw, "application_credential_id")
        return
    if raw.get("application_credential_name") is None:
        raise OptionError(source, "auth.application_credential_id",
                          "is required (or application_credential_name with username or user_id)")
    _require(source, raw, "application_credential_name")
    if "user_id" not in raw:
        _require(source, raw, "username")
        if "user_domain_id" not in auth:
            auth.setdefault("user_domain_name", "Default")
