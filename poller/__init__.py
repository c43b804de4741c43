"""cloud-poller: configuration, the run of one source, the service, notifications."""
