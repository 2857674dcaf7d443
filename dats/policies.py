"""Usage policies: cleaning, charter bounds and the access decision, and the two readers that
build them from the database (policy_of a DAT, bounds_of an iDAO's charter); everything else
here is pure.

A policy is {allowed_uses, price_credit, quota, expires_at, revoked}. The access decision checks,
in this order, revoked → expired → use not allowed → quota exhausted → unpaid, and names the
first failed check with a stable reason code."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, overload

from portal.errors import DomainError

from .models import DAT, PolicyBounds

# The five uses, plus `research`, which contributions already accept in their forms.
USES = ("training", "fine_tuning", "inference", "evaluation", "research", "commercial")
# The largest values the DAT's policy columns hold: price_credit is a bigint, quota an integer.
MAX_PRICE = 2**63 - 1
MAX_QUOTA = 2**31 - 1
MAX_EXPIRY_DAYS = 36_500

# Reason codes of an access decision (the API's `error` when access is denied).
REVOKED = "dat_revoked"
EXPIRED = "dat_expired"
USE_NOT_ALLOWED = "use_not_allowed"
QUOTA_EXHAUSTED = "quota_exhausted"
UNPAID = "insufficient_credit"
DENIAL_STATUS = {REVOKED: 403, EXPIRED: 403, USE_NOT_ALLOWED: 403, QUOTA_EXHAUSTED: 403, UNPAID: 402}


class InvalidPolicy(DomainError):
    code = "invalid_policy"
    status = 422


class OutsideCharter(DomainError):
    code = "policy_outside_charter"
    status = 422


@dataclass(frozen=True)
class Policy:
    allowed_uses: tuple[str, ...]
    price_credit: int = 0
    quota: int | None = None
    expires_at: datetime | None = None
    revoked: bool = False

    def as_json(self) -> dict[str, Any]:
        return {
            "allowed_uses": list(self.allowed_uses),
            "price_credit": str(self.price_credit),
            "quota": self.quota,
            "expires_at": self.expires_at.isoformat() if self.expires_at else None,
            "revoked": self.revoked,
        }


@dataclass(frozen=True)
class Bounds:
    """What an iDAO's charter lets its DAT owners choose."""

    allowed_uses: tuple[str, ...] = USES
    min_price_credit: int = 0
    max_price_credit: int | None = None


@dataclass(frozen=True)
class Decision:
    allowed: bool
    code: str = "granted"
    detail: str = ""
    facts: dict[str, Any] = field(default_factory=dict)


@overload
def _int(value: Any, name: str, *, allow_none: Literal[False], maximum: int) -> int: ...
@overload
def _int(value: Any, name: str, *, allow_none: bool, maximum: int) -> int | None: ...
def _int(value: Any, name: str, *, allow_none: bool, maximum: int) -> int | None:
    if value is None or value == "":
        if allow_none:
            return None
        raise InvalidPolicy(f"{name} is required.")
    if isinstance(value, bool):
        raise InvalidPolicy(f"{name} is a whole number.")
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise InvalidPolicy(f"{name} is a whole number.") from None
    if isinstance(value, float) and value != number:
        raise InvalidPolicy(f"{name} is a whole number.")
    if number < 0 or number > maximum:
        raise InvalidPolicy(f"{name} is between 0 and {maximum:,}.")
    return number


def clean_uses(raw: Any) -> tuple[str, ...]:
    if isinstance(raw, str):
        raw = [u.strip() for u in raw.split(",") if u.strip()]
    if not isinstance(raw, list | tuple) or not all(isinstance(u, str) for u in raw):
        raise InvalidPolicy("allowed_uses is a list of uses.")
    bad = sorted({u for u in raw if u not in USES})
    if bad:
        raise InvalidPolicy(f"Unknown use(s) {', '.join(bad)}; uses are {', '.join(USES)}.")
    return tuple(u for u in USES if u in raw)


def clean_policy(raw: Any, *, now: datetime, base: Policy | None = None) -> Policy:
    """A policy from user input. `expiry_days` (from now) or `expires_at` (ISO) set the expiry;
    fields missing from `raw` keep `base`'s values (a partial change)."""
    if not isinstance(raw, dict):
        raise InvalidPolicy("A usage policy is a JSON object.")
    known = {"allowed_uses", "price_credit", "price", "quota", "expiry_days", "expires_at"}
    extra = sorted(set(raw) - known)
    if extra:
        raise InvalidPolicy(f"Unknown policy field(s): {', '.join(extra)}.")
    base = base or Policy(allowed_uses=())
    uses = clean_uses(raw["allowed_uses"]) if "allowed_uses" in raw else base.allowed_uses
    if "price_credit" in raw or "price" in raw:
        price = _int(raw.get("price_credit", raw.get("price")), "price_credit", allow_none=True, maximum=MAX_PRICE) or 0
    else:
        price = base.price_credit
    quota = _int(raw["quota"], "quota", allow_none=True, maximum=MAX_QUOTA) if "quota" in raw else base.quota
    expires_at = base.expires_at
    if raw.get("expiry_days") not in (None, ""):
        days = _int(raw["expiry_days"], "expiry_days", allow_none=False, maximum=MAX_PRICE)
        if days == 0 or days > MAX_EXPIRY_DAYS:
            raise InvalidPolicy("expiry_days is between 1 and 36,500.")
        expires_at = now + timedelta(days=days)
    elif "expires_at" in raw:
        value = raw["expires_at"]
        if value in (None, ""):
            expires_at = None
        else:
            try:
                expires_at = datetime.fromisoformat(str(value))
            except ValueError:
                raise InvalidPolicy("expires_at is an ISO 8601 date and time.") from None
            if expires_at.tzinfo is None:
                raise InvalidPolicy("expires_at needs a time zone (e.g. 2027-01-01T00:00:00+00:00).")
            expires_at = expires_at.astimezone(UTC)  # as the database returns it, so anchored JSON matches
    if not uses:
        raise InvalidPolicy("A policy allows at least one use.")
    return Policy(allowed_uses=uses, price_credit=price, quota=quota, expires_at=expires_at, revoked=base.revoked)


def check_bounds(policy: Policy, bounds: Bounds) -> None:
    """Raise OutsideCharter naming what the iDAO's charter does not allow."""
    outside = [u for u in policy.allowed_uses if u not in bounds.allowed_uses]
    if outside:
        raise OutsideCharter(
            f"The iDAO's charter does not let its DATs allow {', '.join(outside)} "
            f"(allowed: {', '.join(bounds.allowed_uses) or 'none'})."
        )
    if policy.price_credit < bounds.min_price_credit:
        raise OutsideCharter(f"The iDAO's charter sets a minimum price of {bounds.min_price_credit} CREDIT per use.")
    if bounds.max_price_credit is not None and policy.price_credit > bounds.max_price_credit:
        raise OutsideCharter(f"The iDAO's charter sets a maximum price of {bounds.max_price_credit} CREDIT per use.")


def decide(policy: Policy, *, use: str, used: int, now: datetime, balance: int) -> Decision:
    """The access decision for one use, given grants made so far and the payer's CREDIT balance."""
    if use not in USES:
        return Decision(False, USE_NOT_ALLOWED, f"“{use[:40]}” is not a use; uses are {', '.join(USES)}.")
    if policy.revoked:
        return Decision(False, REVOKED, "The owner has revoked this DAT's usage policy: no new access is granted.")
    if policy.expires_at is not None and now >= policy.expires_at:
        return Decision(False, EXPIRED, f"This DAT's usage policy expired at {policy.expires_at.isoformat()}.")
    if use not in policy.allowed_uses:
        return Decision(
            False,
            USE_NOT_ALLOWED,
            f"This DAT's policy does not allow {use}; it allows {', '.join(policy.allowed_uses)}.",
        )
    if policy.quota is not None and used >= policy.quota:
        return Decision(False, QUOTA_EXHAUSTED, f"This DAT's quota of {policy.quota} use(s) is exhausted.")
    if balance < policy.price_credit:
        return Decision(
            False, UNPAID, f"Access costs {policy.price_credit} CREDIT and the paying account holds {balance}."
        )
    return Decision(True, "granted", f"Granted {use} for {policy.price_credit} CREDIT.")


def split_fee(fee: int, *, contributors_bps: int) -> tuple[int, int]:
    """(owner share, iDAO share): the owner gets the charter's contributors share (rounded down),
    the iDAO treasury the rest (its treasury and validators shares; rewards pays validators)."""
    owner = fee * contributors_bps // 10_000
    return owner, fee - owner


# --- readers ---------------------------------------------------------------------------------------


def policy_of(dat: DAT) -> Policy:
    """A DAT's current policy (its policy columns)."""
    return Policy(
        allowed_uses=tuple(dat.allowed_uses),
        price_credit=int(dat.price_credit),
        quota=dat.quota,
        expires_at=dat.expires_at,
        revoked=dat.revoked_at is not None,
    )


def bounds_of(idao_id: int) -> Bounds:
    """The charter bounds of an iDAO's DAT policies (no row: every use, any price)."""
    return bounds_many({idao_id})[idao_id]


def bounds_many(idao_ids: set[int]) -> dict[int, Bounds]:
    """bounds_of for many iDAOs in one query."""
    rows = {row.idao_id: row for row in PolicyBounds.objects.filter(idao_id__in=idao_ids)}
    return {idao_id: _bounds_of_row(rows.get(idao_id)) for idao_id in idao_ids}


def _bounds_of_row(row: PolicyBounds | None) -> Bounds:
    if row is None:
        return Bounds()
    return Bounds(
        allowed_uses=tuple(u for u in USES if u in row.allowed_uses),
        min_price_credit=row.min_price_credit,
        max_price_credit=row.max_price_credit,
    )
