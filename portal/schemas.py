"""Shared pieces of the API contract: the one error schema and bounded field types.

Body integers are strict (`true` is not 1) and bounded to the column they are stored in, paging
is bounded, timestamps carry a real UTC offset. Use these in every app's schemas instead of bare
`int`/`datetime` so junk answers 422 `invalid_input` instead of reaching the database."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from ninja import Schema
from pydantic import AfterValidator, AwareDatetime, Field, Strict


class ErrorOut(Schema):
    """Every error on the wire: a stable code from portal.errors.CODES and a sentence."""

    error: str
    detail: str


MAX_OFFSET = 10**9
MAX_LIMIT = 200
INT64_MAX = 2**63 - 1
UINT256_MAX = 2**256 - 1
AMOUNT_MAX = 2**255 - 1  # amounts are numeric(78, 0) columns and signed 256-bit on chain

# Paging query parameters (query strings are text, so these are not strict: "5" is 5, "true" is not).
Offset = Annotated[int, Field(ge=0, le=MAX_OFFSET)]
Limit = Annotated[int, Field(ge=1, le=MAX_LIMIT)]
# A path or query id: a positive bigint.
Id = Annotated[int, Field(ge=1, le=INT64_MAX)]

# JSON body integers: strict, inside a PostgreSQL column.
Int32 = Annotated[int, Strict(), Field(ge=-(2**31), le=2**31 - 1)]
Int64 = Annotated[int, Strict(), Field(ge=-(2**63), le=INT64_MAX)]
PositiveInt64 = Annotated[int, Strict(), Field(ge=1, le=INT64_MAX)]
NonNegativeInt64 = Annotated[int, Strict(), Field(ge=0, le=INT64_MAX)]
Amount = Annotated[int, Strict(), Field(ge=0, le=AMOUNT_MAX)]
PositiveAmount = Annotated[int, Strict(), Field(ge=1, le=AMOUNT_MAX)]
Bps = Annotated[int, Strict(), Field(ge=0, le=10_000)]
BodyId = Annotated[int, Strict(), Field(ge=1, le=INT64_MAX)]

MAX_UTC_OFFSET = timedelta(hours=14)


def _real_offset(value: datetime) -> datetime:
    offset = value.utcoffset()
    if offset is None or abs(offset) > MAX_UTC_OFFSET:
        raise ValueError("the UTC offset must be between -14:00 and +14:00")
    return value


# An ISO 8601 timestamp with an offset that exists on Earth (-14:00..+14:00).
Timestamp = Annotated[AwareDatetime, AfterValidator(_real_offset)]


class Page(Schema):
    """`?offset=&limit=` for list operations: negative or huge values are 422, not clamped."""

    offset: Offset = 0
    limit: Limit = 50
