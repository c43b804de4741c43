"""The history checker: a workload against the real ``poller`` CLI, then a check of everything it recorded."""
