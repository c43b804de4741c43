"""Rendering of change reports and entity views for people: text tables, markdown, HTML.

Pure: builds text from values handed in; never reads the database or a clock.
``poller.render`` is the façade the CLI and the demo call.
"""
