"""The one boundary between the Nagios collector and HTTP: requests go out, only our errors come back.

Owns the ``requests`` session (basic auth, TLS verification, timeout), the GET of one
JSON CGI query, and the translation of every failure into ``collectors.errors`` /
``collectors.nagios.errors``: connection and TLS trouble, 401/403, a non-JSON answer
(an HTML login or error page), and Nagios's own result codes (``result.type_code``;
0 is success, see ``include/jsonutils.h`` RESULT_*). Messages are built from our own
fields; never from upstream text, and never with the password.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import requests

from collectors.errors import AuthenticationFailed, SourceUnreachable
from collectors.nagios.errors import NagiosAnswerInvalid, NagiosObjectNotFound

# include/jsonutils.h (NagiosEnterprises/nagioscore): RESULT_SUCCESS 0 ... RESULT_OPTION_IGNORED 7.
RESULT_SUCCESS = 0
RESULT_FILE_OPEN_READ_ERROR = 2
RESULT_OPTION_VALUE_INVALID = 6
# cgi/statusjson.c and cgi/objectjson.c answer a single-object query for an unknown name with
# RESULT_OPTION_VALUE_INVALID and "The host '%s' could not be found." (or "The service ... on host ...").
_NOT_FOUND_PREFIXES = ("The host '", "The service '", "The status for host '", "The status for service '")


class NagiosClient:
    """GETs of ``statusjson.cgi`` and ``objectjson.cgi`` under one base URL, with basic auth.

    ``query`` returns the answer's ``data`` object, or raises AuthenticationFailed,
    SourceUnreachable, NagiosAnswerInvalid or (single-object queries) NagiosObjectNotFound.
    """

    def __init__(self, source: str, url: str, username: str | None, password: str | None, *,
                 verify: bool | str, timeout: float) -> None:
        self.source = source
        self.base = url.rstrip("/")
        parts = urlsplit(self.base)
        self.where = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
        self.timeout = timeout
        self._session = requests.Session()
        self._session.verify = verify
        self._session.headers["Accept"] = "application/json"
        if username is not None:
            self._session.auth = (username, password or "")

    def close(self) -> None:
        """Close the HTTP session (its pooled connections)."""
        self._session.close()

    def query(self, cgi: str, params: Mapping[str, str], want: str) -> Any:
        """``data[want]`` of one ``cgi`` query (``want`` names the object the query returns)."""
        what = f"{cgi}?query={params.get('query')} (source {self.source}, {self.where})"
        try:
            response = self._session.get(f"{self.base}/{cgi}", params=dict(params), timeout=self.timeout)
        except requests.exceptions.SSLError as exc:
            raise SourceUnreachable(f"{what}: TLS handshake or certificate verification failed") from exc
        except requests.exceptions.Timeout as exc:
            raise SourceUnreachable(f"{what}: no answer within {self.timeout:g} s") from exc
        except requests.exceptions.ConnectionError as exc:
            raise SourceUnreachable(f"{what}: cannot connect (is the web server serving Nagios running?)") from exc
        except requests.exceptions.RequestException as exc:
            raise SourceUnreachable(f"{what}: HTTP request failed ({type(exc).__name__})") from exc
        try:
            return self._data(response, what, want)
        finally:
            response.close()

    def _data(self, response: requests.Response, what: str, want: str) -> Any:
        status = response.status_code
        if status in (401, 403):
            raise AuthenticationFailed(f"{what}: the web server rejected the credentials (HTTP {status}); "
                                       "check options.username and options.password")
        if status == 404:
            raise NagiosAnswerInvalid(f"{what}: HTTP 404; options.url must be the directory of Nagios's CGIs "
                                      "(e.g. https://nagios.example.org/cgi-bin/nagios4)")
        if status != 200:
            raise NagiosAnswerInvalid(f"{what}: HTTP {status} from the web server")
        kind = response.headers.get("Content-Type", "").split(";")[0].strip() or "no content type"
        if not response.content.strip():
            # The CGIs answer an empty 200 while Nagios is stopped (it removes status.dat on shutdown).
            raise NagiosAnswerInvalid(f"{what}: an empty answer; is Nagios running? (its CGIs answer nothing "
                                      "while Nagios is stopped)")
        try:
            body = response.json()
        except ValueError as exc:
            raise NagiosAnswerInvalid(
                f"{what}: the answer is {kind}, not JSON (a login page, a proxy or an old Nagios without "
                "JSON CGIs?); options.url must be the directory of Nagios Core 4's JSON CGIs") from exc
        result = body.get("result") if isinstance(body, Mapping) else None
        if not isinstance(result, Mapping) or "type_code" not in result:
            raise NagiosAnswerInvalid(f"{what}: JSON without a Nagios result object (not a Nagios JSON CGI)")
        code = result.get("type_code")
        if code != RESULT_SUCCESS:
            message = str(result.get("message") or "")
            if code == RESULT_OPTION_VALUE_INVALID and message.startswith(_NOT_FOUND_PREFIXES) \
                    and "could not be found" in message:
                raise NagiosObjectNotFound(f"{what}: not found")
            hint = " (is Nagios running and its status file readable by the CGIs?)" \
                if code == RESULT_FILE_OPEN_READ_ERROR else ""
            text = result.get("type_text") if isinstance(result.get("type_text"), str) else "?"
            raise NagiosAnswerInvalid(f"{what}: Nagios answered type_code {code} ({text[:40]}){hint}")
        data = body.get("data")
        if not isinstance(data, Mapping) or not isinstance(data.get(want), Mapping):
            raise NagiosAnswerInvalid(f"{what}: a successful answer without data.{want}")
        return data[want]
