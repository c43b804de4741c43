"""The poller's errors; cli.py turns them into exit codes and one-line messages.

    PollerError                 root
    ├── ConfigError             the config file or a value in it is wrong (exit 2)
    │   └── ConfigProblems      several of them at once (check-config lists each)
    ├── SourceBusy              another process holds the source's lease
    ├── UnknownEntity           ``history``/``show``: no such TYPE/KEY recorded (exit 1)
    └── SinkError               a notification sink problem
        ├── SinkConfigError     a sink's options are wrong (exit 2)
        └── DeliveryError       a batch could not be delivered (retryable or not)
"""

from __future__ import annotations


class PollerError(Exception):
    """Root of the poller's own errors; messages are safe to show to a user."""


class ConfigError(PollerError):
    """The configuration is invalid; the message names the file and the key."""


class ConfigProblems(ConfigError):
    """Every problem found in one configuration file; the message is the first and a count."""

    def __init__(self, problems: list[ConfigError]) -> None:
        self.problems = tuple(str(p) for p in problems)
        more = len(self.problems) - 1
        suffix = f" (and {more} more problem{'s' if more > 1 else ''}: run `poller check-config`)" if more else ""
        super().__init__(self.problems[0] + suffix)


class SourceBusy(PollerError):
    """Another process is running this source right now."""


class UnknownEntity(PollerError):
    """Neither the baseline nor the change history holds the TYPE/KEY asked for."""


class SinkError(PollerError):
    """Something went wrong with a notification sink."""


class SinkConfigError(SinkError, ConfigError):
    """A sink's options are invalid; the message names notify.sinks.<name>.<field>."""


class DeliveryError(SinkError):
    """A sink could not deliver a batch.

    ``delivered`` records at the head of the batch did get through. When
    ``retryable`` is false, the record right after them was refused for good
    (e.g. a webhook's 4xx) and is parked; otherwise the sink is down and the
    rest of the batch is retried later, in order.
    """

    def __init__(self, message: str, *, delivered: int = 0, retryable: bool = True) -> None:
        super().__init__(message)
        self.delivered = delivered
        self.retryable = retryable
