"""The two Nagios entity types: hosts and services, their parents and volatile fields.

Owns only declarations. Volatile paths are what moves on every check while nothing
changes (check times, latency, execution time, attempt counters, performance data, and
the plugin output, which commonly carries measurements such as RTA or load, and the
state-change times, which Nagios fills in once without a change). Never does I/O.
"""

from __future__ import annotations

from collectors.base import EntityType

FINGERPRINT = "nagios-json-cgi/1"

VOLATILE = ("/last_check", "/next_check", "/latency", "/execution_time", "/current_attempt", "/perf_data",
            "/plugin_output", "/long_plugin_output", "/percent_state_change",
            # Nagios sets these from 0 to the first check's time once, after an object is added or a start
            # without retained state, with no change of condition; the state and hard_state carry the change.
            "/last_state_change", "/last_hard_state_change")

HOST = EntityType("nagios.host", parent="nagios.host", volatile=VOLATILE, sets=("/parents",),
                  fingerprint=FINGERPRINT, description="Nagios host (statusjson + objectjson hostlist)")
SERVICE = EntityType("nagios.service", parent="nagios.host", volatile=VOLATILE, fingerprint=FINGERPRINT,
                     description="Nagios service, key host/description (statusjson + objectjson servicelist)")
ALL_TYPES = (HOST, SERVICE)
