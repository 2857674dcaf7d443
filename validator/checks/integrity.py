"""Are these the bytes the round is about?"""

from __future__ import annotations

from .base import Content, Expected, Result


def hash_and_size(content: Content, expected: Expected) -> Result:
    """SHA-256 against the round's content hash (what the verdict signs) and the portal's
    record, keccak-256 and size against the record."""
    figures = {"size": content.size, "sha256": content.sha256, "keccak256": content.keccak256}
    if content.sha256.lower() != expected.content_hash.lower():
        return Result(
            "integrity",
            "hash_mismatch",
            False,
            f"the downloaded bytes hash to {content.sha256[:18]}…, not the round's {expected.content_hash[:18]}…",
            figures,
        )
    if expected.sha256 and content.sha256.lower() != expected.sha256.lower():
        return Result("integrity", "hash_mismatch", False, "the SHA-256 differs from the portal's record", figures)
    if expected.keccak256 and content.keccak256.lower() != expected.keccak256.lower():
        return Result("integrity", "hash_mismatch", False, "the keccak-256 differs from the portal's record", figures)
    if expected.size is not None and content.size != expected.size:
        return Result(
            "integrity",
            "size_mismatch",
            False,
            f"the file is {content.size} bytes, not the declared {expected.size}",
            figures,
        )
    return Result("integrity", "ok", True, "", figures)
