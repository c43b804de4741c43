"""Collector plugins: the base contract (``collectors.base``) and the built-in plugins.

Never imports ``poller/`` or ``baseline/``.
"""
