"""The ``nagios`` collector: Nagios Core's hosts and services over its JSON CGIs.

The collector lives in ``collector.py``; ``lab.py`` starts a real Nagios Core and an
Apache serving its CGIs on loopback, for the tests and ``poller demo``. Nothing here
imports ``poller/`` or ``baseline/``.
"""
