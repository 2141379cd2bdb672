"""A JSON object with a key written twice, refused wherever JSON is read (the service's request
body, a prediction log's line): Python's and orjson's readers keep the last value silently, and
which of the two the writer meant is not the reader's to guess."""

from __future__ import annotations

from collections import Counter
from typing import Any


class DuplicateKey(ValueError):
    """The first key an object holds twice (its text: the key)."""

    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object's pairs as a dict (``json.loads``' ``object_pairs_hook``, which sees every
    object, nested ones too); ``DuplicateKey`` for a key written twice."""
    read = dict(pairs)
    if len(read) < len(pairs):
        raise DuplicateKey(next(key for key, n in Counter(key for key, _ in pairs).items() if n > 1))
    return read
