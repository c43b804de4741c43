"""Notification sinks and the dispatcher that feeds them from the outbox."""
