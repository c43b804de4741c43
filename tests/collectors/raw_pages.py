"""Test helper: a listing's items with its RawPages decoded as the poller's scan would, after a pickle
round trip (the hash worker pool pickles each page to send it to a worker process)."""

from __future__ import annotations

import pickle
from collections.abc import Iterator

from collectors.base import Item, Listing, RawPage
from collectors.errors import CollectorError


def decoded(listing: Listing) -> Iterator[Item]:
    """Iterate ``listing``, decoding each RawPage from its pickled copy; a page that cannot be decoded
    fails the listing (as in poller/run/scan.py)."""
    for item in listing:
        if type(item) is not RawPage:
            yield item
            continue
        page = pickle.loads(pickle.dumps(item))
        try:
            yield from page.entities()
        except CollectorError as exc:
            listing.fail(exc)
            return
