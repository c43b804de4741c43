"""The run of one source: lease, scan, compare, commit, outcome.

``source.run_source`` is the entry point; ``snapshot`` runs configured sources once and
``refresh`` re-reads single entities for push events. Nothing here schedules or serves.
"""
