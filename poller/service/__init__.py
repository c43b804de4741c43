"""The long-running service: scheduler, health, metrics and the status of sources.

``scheduler.Service`` runs sources on their schedules; it never decides what changed
(that is ``poller.run``).
"""
