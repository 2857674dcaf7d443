"""Node configuration from flags, falling back to VALIDATOR_* environment variables."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import overload
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Config:
    portal: str
    key: str | None = None  # hex private key (from --key-file / VALIDATOR_KEY)
    token: str | None = None  # bearer API token (validator scope)
    interval: float = 2.0  # seconds to wait after a poll that found nothing
    max_interval: float | None = None  # idle polls back off (doubling) up to this; None: no backoff
    concurrency: int = 4  # assignments downloaded and checked at once (threads)
    batch: int = 100  # verdicts per POST /api/v1/verdicts (the portal's maximum)
    once: bool = False
    cache_dir: Path | None = None  # the signed-verdict journal and accepted-content MinHashes
    chain_id: int | None = None  # SIWE chain id; default: the EIP-712 domain's chainId
    timeout: float = 30.0
    max_retries: int = 6
    max_bytes: int = 2 * 1024**3  # refuse to download more than this
    thresholds: dict[str, float] = field(default_factory=dict)  # check thresholds (see checks.Thresholds)

    @property
    def base_url(self) -> str:
        return self.portal.rstrip("/")


@overload
def _env(name: str) -> str | None: ...
@overload
def _env(name: str, default: str) -> str: ...
def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(f"VALIDATOR_{name}")
    return value if value not in (None, "") else default


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m validator",
        description="An automated validator node: polls a portal's assignments over HTTP, downloads and "
        "checks each file, signs EIP-712 verdicts with its own key and submits them.",
    )
    p.add_argument("--portal", default=_env("PORTAL"), help="Portal base URL (env VALIDATOR_PORTAL).")
    p.add_argument(
        "--key-file",
        default=_env("KEY_FILE"),
        help="File holding the validator's private key, hex (VALIDATOR_KEY_FILE).",
    )
    p.add_argument("--token", default=_env("TOKEN"), help="Bearer API token instead of SIWE (VALIDATOR_TOKEN).")
    p.add_argument("--interval", type=float, default=float(_env("INTERVAL", "2")), help="Idle poll interval, s.")
    p.add_argument(
        "--max-interval",
        type=float,
        default=float(_env("MAX_INTERVAL", "0")) or None,
        help="Consecutive idle polls double the wait from --interval up to this many seconds (default: no backoff).",
    )
    p.add_argument(
        "--concurrency", type=int, default=int(_env("CONCURRENCY", "4")), help="Assignments checked at once."
    )
    p.add_argument("--batch", type=int, default=int(_env("BATCH", "100")), help="Verdicts per submission (≤ 100).")
    p.add_argument("--once", action="store_true", default=_env("ONCE") in ("1", "true", "yes"))
    p.add_argument("--cache-dir", default=_env("CACHE_DIR"), help="Journal and MinHash cache (VALIDATOR_CACHE_DIR).")
    p.add_argument("--chain-id", type=int, default=int(_env("CHAIN_ID", "0")) or None, help="SIWE chain id.")
    p.add_argument("--timeout", type=float, default=float(_env("TIMEOUT", "30")), help="HTTP timeout, s.")
    p.add_argument("--max-retries", type=int, default=int(_env("MAX_RETRIES", "6")))
    p.add_argument("--min-bytes", type=int, default=int(_env("MIN_BYTES", "16")), help="near_empty below this.")
    p.add_argument("--pii-share", type=float, default=float(_env("PII_SHARE", "0.1")), help="pii at this share.")
    p.add_argument(
        "--duplicate-jaccard", type=float, default=float(_env("DUPLICATE_JACCARD", "0.8")), help="near_duplicate at."
    )
    p.add_argument("-v", "--verbose", action="store_true")
    return p


def from_args(argv: list[str] | None = None) -> tuple[Config, argparse.Namespace]:
    p = parser()
    args = p.parse_args(argv)
    if not args.portal:
        p.error("give --portal URL (or VALIDATOR_PORTAL)")
    parts = urlsplit(args.portal)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        p.error(f"--portal must be an http(s) URL, not {args.portal!r}")
    key = _env("KEY")
    if args.key_file:
        try:
            key = Path(args.key_file).read_text().strip()
        except OSError as exc:
            p.error(f"cannot read the key file {args.key_file}: {exc}")
    if not key:
        p.error("give --key-file (the validator's key signs every verdict); --token only replaces SIWE sign-in")
    if not 1 <= args.batch <= 100:
        p.error("--batch is between 1 and 100")
    cache = Path(args.cache_dir) if args.cache_dir else None
    config = Config(
        portal=args.portal,
        key=key,
        token=args.token,
        interval=args.interval,
        max_interval=args.max_interval,
        concurrency=max(1, args.concurrency),
        batch=args.batch,
        once=args.once,
        cache_dir=cache,
        chain_id=args.chain_id,
        timeout=args.timeout,
        max_retries=args.max_retries,
        thresholds={
            "min_bytes": args.min_bytes,
            "pii_share": args.pii_share,
            "duplicate_jaccard": args.duplicate_jaccard,
        },
    )
    return config, args
