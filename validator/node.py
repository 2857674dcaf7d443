"""The node loop: sign in, poll assignments, check each file (several at once), sign verdicts
with the published EIP-712 types, submit them in batches, and keep going through portal
restarts. One log line per verdict."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import os
import signal
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast
from urllib.parse import urlsplit

from .checks import Content, Expected, Result, Thresholds, decide, reason_codes, run_all
from .checks.duplicates import Entry, SignatureIndex
from .client import Downloaded, PortalClient, PortalError, backoff_delay
from .config import Config, from_args
from .scoring import evidence_json, score_vector, scores_of
from .signing import SchemaError, VerdictSchema

log = logging.getLogger("validator")
MINHASH_REPROBE_SECONDS = 60.0
INLINE_MAX = 64 * 1024  # files up to this size may come inline with the assignment


@dataclass
class Decision:
    round_id: int
    verdict: str
    reason: str
    message: dict[str, Any]
    signature: str
    results: list[Result]


class Journal:
    """Every verdict this node signed, appended before it is submitted. A round seen again
    (the submission did not land, the node restarted) gets the same signed verdict back, never
    a new one: re-checking could give a different answer, and two different signed verdicts
    for one round are equivocation, which the portal slashes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self.signed: dict[int, dict[str, Any]] = {}
        if path.exists():
            for line in path.read_text().splitlines():
                try:
                    row = json.loads(line)
                    self.signed[int(row["round"])] = row
                except (ValueError, KeyError, TypeError):
                    continue

    def get(self, round_id: int) -> dict[str, Any] | None:
        return self.signed.get(round_id)

    def record(self, decision: Decision) -> None:
        self.record_many([decision])

    def record_many(self, decisions: list[Decision]) -> None:
        """Append these verdicts and fsync once: they are on disk before any is submitted."""
        if not decisions:
            return
        rows: list[dict[str, Any]] = [
            {
                "round": d.round_id,
                "message": d.message,
                "signature": d.signature,
                "checks": [r.as_json() | {"figures": _small(r.figures)} for r in d.results],
            }
            for d in decisions
        ]
        with self._lock:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self.path.open("a") as fh:
                fh.write("".join(json.dumps(row) + "\n" for row in rows))
                fh.flush()
                os.fsync(fh.fileno())
            for row in rows:
                self.signed[row["round"]] = row


def _small(figures: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in figures.items() if k != "minhash"}


def default_cache_dir(portal: str, address: str) -> Path:
    host = urlsplit(portal).netloc.replace(":", "_")
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "idao-validator" / host / address.lower()


class Node:
    def __init__(self, config: Config, *, client: PortalClient | None = None) -> None:
        self.config = config
        self.client = client or PortalClient(
            config.base_url,
            key=config.key or "",
            token=config.token,
            chain_id=config.chain_id,
            timeout=config.timeout,
            max_retries=config.max_retries,
        )
        self.thresholds = Thresholds.of(config.thresholds)
        self.cache_dir = config.cache_dir or default_cache_dir(config.base_url, self.client.address)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.cache_dir / "verdicts.jsonl")
        self.index = SignatureIndex(
            threshold=self.thresholds.duplicate_jaccard, path=self.cache_dir / "accepted-minhash.jsonl"
        )
        self.schema: VerdictSchema | None = None
        self.stopping = threading.Event()
        self._pool = ThreadPoolExecutor(max_workers=config.concurrency, thread_name_prefix="check")
        self._minhash_cursor: str | None = None
        self._minhash_next_probe = 0.0
        self._minhash_published = False
        self.started = False

    # --- start-up ------------------------------------------------------------------------------

    def start(self) -> None:
        """Fetch the EIP-712 publication (domain, types), sign in, and catch up with the accepted
        content's published MinHashes (after that, a pass with work reads only the new pages)."""
        self.schema = VerdictSchema(self.client.eip712())
        if self.client.chain_id is None:
            self.client.chain_id = int(self.schema.domain.get("chainId") or 1)
        self.client.login()
        self.sync_minhashes()
        self.started = True
        log.info(
            "validating at %s as %s (%s, concurrency %d, cache %s)",
            self.config.base_url,
            self.client.address,
            "bearer token" if self.config.token else "SIWE session",
            self.config.concurrency,
            self.cache_dir,
        )

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
        self.client.close()

    # --- published MinHashes --------------------------------------------------------------------

    def sync_minhashes(self) -> None:
        if not self._minhash_published and time.monotonic() < self._minhash_next_probe:
            return
        try:
            while True:
                page = self.client.minhashes(after=self._minhash_cursor)
                if page is None:
                    self._minhash_published = False
                    self._minhash_next_probe = time.monotonic() + MINHASH_REPROBE_SECONDS
                    return
                self._minhash_published = True
                for item in page.get("items", []):
                    self.index.add_published(item)
                cursor = page.get("next")
                if not cursor or cursor == self._minhash_cursor:
                    return
                self._minhash_cursor = cursor
        except PortalError as exc:
            log.warning("could not read the portal's MinHash signatures: %s", exc)
            self._minhash_next_probe = time.monotonic() + MINHASH_REPROBE_SECONDS

    # --- one assignment -------------------------------------------------------------------------

    def check(self, assignment: dict[str, Any]) -> Decision | None:
        """Download, hash and check one assignment, and sign the verdict; None when it cannot
        be decided now (the download failed: it is tried again at the next poll)."""
        if self.schema is None:
            raise SchemaError("start() has not fetched the EIP-712 publication")
        round_id = int(assignment["round"])
        subject: dict[str, Any] = assignment.get("subject") or {}
        template = (assignment.get("typed_data") or {}).get("message") or {}
        if not self._template_is_ours(assignment, template):
            return None
        url = subject.get("download_url")
        if not url and "content_base64" not in subject:
            log.error("round %s: the assignment names no download URL", round_id)
            return None
        inline = subject.get("content_base64")
        # A file that came inline is checked in memory; a download is streamed to a file.
        tmp = None if isinstance(inline, str) else self._download_file()
        try:
            data: bytes | None = None
            if tmp is None:
                data = base64.b64decode(cast(str, inline), validate=True)
                got = Downloaded.of(data)
            else:
                with tmp:
                    got = self.client.download(cast(str, url), tmp, max_bytes=self.config.max_bytes)
            content = Content(
                path=Path(tmp.name) if tmp is not None else self.cache_dir / f"inline-{round_id}",
                size=got.size,
                sha256=got.sha256,
                keccak256=got.keccak256,
                name=str(subject.get("original_name") or ""),
                declared_type=str(subject.get("declared_type") or ""),
                data=data,
            )
            expected = Expected(
                content_hash=str(assignment["content_hash"]),
                sha256=subject.get("sha256"),
                keccak256=subject.get("keccak256"),
                size=subject.get("size"),
                owner=str(subject.get("owner") or ""),
            )
            results = run_all(content, expected, index=self.index, thresholds=self.thresholds)
        except (PortalError, binascii.Error) as exc:
            log.warning("round %s: download failed (%s); will retry", round_id, exc)
            return None
        finally:
            if tmp is not None:
                Path(tmp.name).unlink(missing_ok=True)
        verdict, reason = decide(results)
        vector = score_vector(results)
        message = self.schema.message(
            template, verdict=verdict, reason=reason, scores=scores_of(vector), evidence=evidence_json(vector)
        )
        signature = self.schema.sign(self.config.key or "", message)
        decision = Decision(round_id, verdict, reason, message, signature, results)
        if verdict == "approve":
            dup = next((r for r in results if r.check == "duplicates"), None)
            if dup is not None and dup.figures.get("minhash"):
                self.index.add(
                    Entry(content.sha256, expected.owner, "local", str(round_id), tuple(dup.figures["minhash"])),
                    persist=True,
                )
        return decision

    def _download_file(self) -> IO[bytes]:
        return tempfile.NamedTemporaryFile(dir=self.cache_dir, prefix="download-", delete=False)

    def _template_is_ours(self, assignment: dict[str, Any], template: dict[str, Any]) -> bool:
        """Sign only a message about this round, this content and this validator, in the
        domain the portal publishes."""
        if self.schema is None:  # check() made sure of it
            raise SchemaError("start() has not fetched the EIP-712 publication")
        typed = assignment.get("typed_data") or {}
        problems = []
        if typed.get("domain") and typed["domain"] != self.schema.domain:
            problems.append("its EIP-712 domain differs from /quorums/eip712.json")
        if str(template.get("validator", "")).lower() != self.client.address.lower():
            problems.append(f"it names validator {template.get('validator')}")
        if template.get("round") != assignment.get("round"):
            problems.append(f"it is signed for round {template.get('round')}")
        if str(template.get("contentHash", "")).lower() != str(assignment.get("content_hash", "")).lower():
            problems.append("its contentHash differs from the round's")
        if problems:
            log.error("round %s: not signing: %s", assignment.get("round"), "; ".join(problems))
            return False
        return True

    # --- a pass -------------------------------------------------------------------------------

    def run_once(self) -> int:
        """Handle every current assignment once; returns how many verdicts the portal recorded."""
        assignments = self.client.assignments(inline_max=INLINE_MAX)
        if not assignments:
            return 0
        self.sync_minhashes()  # only when there is something to compare (an idle poll is one request)
        items: list[tuple[dict[str, Any], str]] = []  # (submission item, log text)
        fresh = []
        for a in assignments:
            signed = self.journal.get(int(a["round"]))
            if signed is not None:
                items.append(
                    (
                        {"round": signed["round"], "message": signed["message"], "signature": signed["signature"]},
                        "(resubmitted from the journal)",
                    )
                )
            else:
                fresh.append(a)
        decisions = [d for d in self._pool.map(self._check_logged, fresh) if d is not None]
        self.journal.record_many(decisions)
        for d in decisions:
            items.append(({"round": d.round_id, "message": d.message, "signature": d.signature}, ""))
        recorded = 0
        for start in range(0, len(items), self.config.batch):
            chunk = items[start : start + self.config.batch]
            results = self.client.submit([item for item, _ in chunk])
            for (item, note), result in zip(chunk, results, strict=True):
                recorded += self._log_verdict(item, result, note)
        return recorded

    def _check_logged(self, assignment: dict[str, Any]) -> Decision | None:
        try:
            return self.check(assignment)
        except Exception as exc:  # one bad file or check must not stop the node's other work
            log.exception("round %s: cannot be checked: %s", assignment.get("round"), exc)
            return None

    def _log_verdict(self, item: dict[str, Any], result: dict[str, Any], note: str) -> int:
        m = item["message"]
        status = result.get("status")
        codes = ",".join(reason_codes(m.get("reason", ""))) or "-"
        outcome = (
            "recorded"
            if status == 201 and not result.get("duplicate")
            else "already recorded"
            if status == 201
            else f"refused {result.get('error')}: {result.get('detail', '')}"
        )
        line = (
            f"verdict round={item['round']} content={str(m.get('contentHash'))[:12]}… verdict={m.get('verdict')} "
            f"codes={codes} status={status} {outcome} reason={json.dumps(m.get('reason', ''))} {note}".rstrip()
        )
        (log.info if status == 201 else log.warning)(line)
        return int(status == 201)

    # --- the loop ------------------------------------------------------------------------------

    def idle_wait(self, idle_polls: int) -> float:
        """Seconds to wait after the `idle_polls`+1-th idle poll in a row: `interval`, doubling
        up to `max_interval` when one is set (a quiet portal is not polled 20 times a second)."""
        ceiling = max(self.config.interval, self.config.max_interval or 0)
        return min(ceiling, self.config.interval * 2 ** min(idle_polls, 30))

    def run(self) -> None:
        """Poll until stopped (SIGTERM/SIGINT): at once again after a pass that found work,
        `interval` seconds after an idle one, with backoff while the portal is unreachable."""
        failures = idle = 0
        while not self.stopping.is_set():
            try:
                if not self.started:
                    self.start()
                found = self.run_once()
                failures = 0
                if self.config.once:
                    return
                if found:
                    idle = 0
                else:
                    self.stopping.wait(self.idle_wait(idle))
                    idle += 1
            except Exception as exc:
                refused = isinstance(exc, PortalError) and 400 <= exc.status < 500 and exc.status != 429
                if refused and not self.started:
                    raise  # the portal refuses this node's sign-in or identity: retrying will not help
                delay = backoff_delay(failures, base=1.0, cap=30.0)
                failures += 1
                if isinstance(exc, PortalError):
                    log.warning("portal error (%s); next try in %.1fs", exc, delay)
                else:
                    log.exception("unexpected error; next try in %.1fs", delay)
                if self.config.once and failures > self.config.max_retries:
                    raise
                self.stopping.wait(delay)


def main(argv: list[str] | None = None) -> int:
    config, args = from_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    node = Node(config)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: node.stopping.set())
    try:
        node.run()
    except Exception as exc:
        log.error("stopping: %s", exc)
        return 2
    finally:
        node.close()
    return 0
