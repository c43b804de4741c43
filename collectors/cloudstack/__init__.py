"""The ``cloudstack`` collector: Apache CloudStack inventories over the signed query API.

The collector lives in ``collector.py``; ``emulator/`` is a CloudStack API server on
loopback used by the tests and by ``poller demo``. Nothing here imports ``poller/``
or ``baseline/``.
"""
