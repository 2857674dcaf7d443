"""Group commit for single transfers: concurrent writers share one database transaction.

A single transfer costs about the same database work whether it travels alone or with a thousand
others (one lock pass, one write statement, one commit), so writers in different processes that
arrive together are combined, as TigerBeetle and PostgreSQL's own group commit do:

- A writer that finds fewer than LEDGER_COMBINE_LEADERS leaders (1) becomes one and posts its
  own transfer at once (the uncontended path is the direct one, plus one Redis round trip).
- Otherwise it queues its transfer in Redis and waits for its own reply.
- A leader's own transfer returns to its caller; a background thread of its process then drains
  the queue in batches (one database transaction each, `transactions_post`'s per-item mode) and
  replies to each writer; one script delivers a batch's replies and takes the next batch. It gives
  the lead to the oldest waiter after LEAD_SECONDS, and at once when its process ends.

Leadership (leases) and the queue live in Redis, and each step on them is one Lua script, so they
change together: a writer queues only while a leader exists, and a leader steps down only when
the queue is empty. No queued transfer is left behind with nobody to post it.

Nothing is ever applied twice or reported wrongly, whatever dies, because:
- every transfer has its idempotency key, so posting it again is a replay;
- a leader takes items off the queue, then, as the first statement of the batch's transaction
  and before it looks at which keys are taken, the transaction-level advisory lock FENCE_LOCK
  (shared). A writer that has waited LEDGER_COMBINE_WAIT_SECONDS in vain removes its item from
  the queue and posts it itself. If the item is already gone, the writer first takes FENCE_LOCK
  exclusively and holds it until its own post commits: every leader whose transaction could hold
  the item has then committed or rolled back, and a leader that took the item but had not begun
  waits for the writer and then finds its key taken (a replay). So the writer's own post is a
  replay or the only application.

Used only on PostgreSQL with Redis (REDIS_URL), outside an enclosing transaction (a caller's
transaction must see its own transfer), never when LEDGER_COMBINE is false, and in "auto" only
while other writers overlap this process's transfers (see observe)."""

from __future__ import annotations

import itertools
import json
import logging
import os
import queue as queue_module
import select
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from functools import cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction

from . import errors
from .items import MAX_BATCH, Item, PostResult, Statement
from .models import Transaction

log = logging.getLogger(__name__)

FENCE_LOCK = 0x1ED6E6  # transaction-level only: it works behind PgBouncer's transaction pooling
_FENCE_SQL = "SELECT pg_advisory_xact_lock_shared(%s)"
LEASE_MS = 5_000  # a leader that stops renewing its lease this long is taken over
# A leader hands the lead on after this long, to the oldest waiter (a process blocked on its own
# transfer), so leading is spread over the processes. A hand-over costs a few batches' time: the
# next leader's thread, connection and caches warm up (its first three batches ran 0.6 ms slower,
# and the batch at the hand-over 2-10 ms later). With eight writers on two cores, handing on every
# 0.1 s gave 7% fewer transfers/s than every second (paired bench windows; 3 s gave no more).
LEAD_SECONDS = 1.0
# After posting a batch for others, a leader lingers up to this long for as many items as its
# recent batches held before it takes what is queued, or steps down on an empty queue (as
# PostgreSQL's commit_delay): writers answered a moment ago queue their next ones within a couple
# of milliseconds on a busy machine (the reply wakes them all at once), and stepping down at once
# would make the next of them post alone. A leader that answered nobody (an uncontended writer)
# steps down at once. So a combined transfer may wait up to this long more. With eight writers
# on two cores, 3 ms gave batches of 7.9 where 0.5 ms gave 7.2, and 6% more transfers/s than
# 1.5 ms, 13% more than 0.5 ms (paired bench windows).
LINGER_SECONDS = 0.003
LINGER_POLL_SECONDS = 0.00015  # how a leader without its wake connection lingers (see _Waker)
POLL_SECONDS = 0.5  # a waiter looks for a missing leader this often
RETRY = "retry"  # reply: the leader's batch rolled back; post it yourself
LEAD = "lead"  # reply: you lead now

# Leaders are a sorted set of lease ends (ms, Redis's clock); a lapsed lease is dropped when
# anyone looks. Up to ARGV max leaders post at once (one per core keeps both cores busy).
_LEASES = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
"""
# enter: lead (1) if fewer than the most leaders lead (and push 'self' to our reply list KEYS[3],
# which the BLPOP sent with this script pops at once), else queue the item (0); if that makes the
# queue as long as a lingering leader waits for (KEYS[4], see turn), wake it (channel ARGV[5]).
_ENTER = (
    _LEASES
    + """
if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[4]) then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('RPUSH', KEYS[3], 'self') redis.call('PEXPIRE', KEYS[3], ARGV[3]) return 1 end
redis.call('RPUSH', KEYS[1], ARGV[2])
local want = redis.call('GET', KEYS[4])
if want and redis.call('LLEN', KEYS[1]) >= tonumber(want) then
  redis.call('DEL', KEYS[4]) redis.call('PUBLISH', ARGV[5], '1') end
return 0
"""
)
# take over from leaders whose lease ran out: 1 if we lead now.
_TAKE_OVER = (
    _LEASES
    + """
if redis.call('ZCARD', KEYS[2]) < tonumber(ARGV[3]) then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1]) return 1 end
return 0
"""
)
# turn: first deliver the previous batch's replies (ARGV[9..]: id, reply, id, reply, ...). Then,
# if we no longer lead: {-1}; if the queue holds fewer than ARGV[8] items and ARGV[6] = '1' (we
# are lingering for writers we just answered): stay (renew the lease) and note in KEYS[4] how many
# items would wake us (enter publishes when the queue holds them), {3}; if it is empty, step
# down, {1}; if ARGV[2] = '1': hand the lead to the oldest waiter, {2}; else renew the lease and
# take our share of the queue (its length over the leaders, at most ARGV[7]): {0, item, ...}.
_TURN = (
    _LEASES
    + """
for i = 9, #ARGV, 2 do
  redis.call('RPUSH', KEYS[3] .. ARGV[i], ARGV[i + 1])
  redis.call('PEXPIRE', KEYS[3] .. ARGV[i], ARGV[5])
end
redis.call('DEL', KEYS[4])
if not redis.call('ZSCORE', KEYS[2], ARGV[1]) then return {-1} end
local queued = redis.call('LLEN', KEYS[1])
if ARGV[6] == '1' and queued < tonumber(ARGV[8]) then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('SET', KEYS[4], ARGV[8], 'PX', ARGV[3]) return {3}
end
if queued == 0 then redis.call('ZREM', KEYS[2], ARGV[1]) return {1} end
local head = redis.call('LINDEX', KEYS[1], 0)
if ARGV[2] == '1' then
  local next = cjson.decode(head)['r']
  redis.call('ZREM', KEYS[2], ARGV[1])
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), next)
  redis.call('RPUSH', KEYS[3] .. next, ARGV[4])
  redis.call('PEXPIRE', KEYS[3] .. next, ARGV[5])
  return {2}
end
redis.call('ZADD', KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
local share = math.ceil(queued / redis.call('ZCARD', KEYS[2]))
local items = redis.call('LPOP', KEYS[1], math.min(share, tonumber(ARGV[7])))
table.insert(items, 1, 0)
return items
"""
)
REPLY_TTL_MS = 120_000

# Refusals a batch can return, by code (inputs are validated before they are queued).
_ERRORS = {cls.code: cls for cls in (errors.InsufficientFunds, errors.IdempotencyKeyReused, errors.InvalidAmount)}


def applies() -> bool:
    """Whether the next single transfer goes through the queue: combining is on (or "auto" and
    other writers are posting now, see observe), on PostgreSQL with Redis, outside any transaction."""
    mode = getattr(settings, "LEDGER_COMBINE", False)
    if not mode or (mode == "auto" and time.monotonic() >= _Load.busy_until) or not settings.REDIS_URL:
        return False
    db = connections[DEFAULT_DB_ALIAS]  # looked up once (each `connection.<name>` looks it up again)
    return db.vendor == "postgresql" and not db.in_atomic_block


# "auto": combine while other writers post at the same time. Transaction ids come from one
# sequence, so the ids drawn between two of this process's transfers are the other writers' posts
# in that span: their rate times the time one post takes is how many others overlap ours. At one
# or more, combining saves work; a lone writer sees none and posts directly, at no Redis cost.
OVERLAP = 1.0
BUSY_SECONDS = 1.0  # combine this long after the last transfer that saw others overlap it


class _Load:
    last_id = 0
    last_at = 0.0
    busy_until = 0.0


def observe(tx_id: int, started: float) -> None:
    """Note the id a single transfer of ours got (posted from `started`, time.monotonic())."""
    now = time.monotonic()
    if _Load.last_id and tx_id > _Load.last_id and now > _Load.last_at:
        others = tx_id - _Load.last_id - 1
        if others / (now - _Load.last_at) * (now - started) >= OVERLAP:
            _Load.busy_until = now + BUSY_SECONDS
    _Load.last_id, _Load.last_at = tx_id, now


@cache
def _redis() -> Any:
    import redis  # only where combining is on: a process without Redis never loads it

    return redis.Redis.from_url(settings.REDIS_URL)


@cache
def _scripts() -> dict[str, str]:
    """Each script's SHA, loaded into Redis (again after Redis lost them: cache_clear)."""
    client = _redis()
    return {
        name: client.script_load(src) for name, src in (("enter", _ENTER), ("take_over", _TAKE_OVER), ("turn", _TURN))
    }


def _keys() -> tuple[str, str, str]:
    prefix = _prefix()
    return prefix + "queue", prefix + "leader", prefix + "reply:"


def _wake_names() -> tuple[str, str]:
    """The key holding how many queued items wake a lingering leader, and the channel that wakes it."""
    prefix = _prefix()
    return prefix + "want", prefix + "wake"


def _prefix() -> str:
    # The settings' name, which the test runner renames as it renames the connection's: looking
    # the connection up costs a single transfer more than all of this module's other Python.
    return f"ledger:combine:{settings.DATABASES[DEFAULT_DB_ALIAS]['NAME']}:"


def leaders() -> int:
    return int(getattr(settings, "LEDGER_COMBINE_LEADERS", 1))


def wait_seconds() -> float:
    return float(getattr(settings, "LEDGER_COMBINE_WAIT_SECONDS", 30.0))


class Stats:
    """Per process, for the benchmark: batches posted for others and their items."""

    batches = 0
    items = 0


class _Rid:
    """Reply ids: random per process (and again in a forked child), then counted. A uuid4 per
    transfer would read the system's random source each time."""

    prefix = ""
    counter = itertools.count()

    @classmethod
    def next(cls) -> str:
        if not cls.prefix:
            cls.prefix = os.urandom(8).hex() + "-"
        return f"{cls.prefix}{next(cls.counter):x}"

    @classmethod
    def forget(cls) -> None:
        cls.prefix, cls.counter = "", itertools.count()


# post items in one transaction of their own, its first statements given
Batch = Callable[[list[Item], list[Statement]], dict[int, PostResult]]
Alone = Callable[[Item], PostResult]  # post one item in its own transaction


def post_one(item: Item, *, batch: Batch, alone: Alone) -> PostResult:
    """The outcome of one validated item, posted by whoever leads: `alone` posts an item in a
    transaction of its own, `batch` posts a combined batch inside the leader's transaction (the
    ledger's services give both: this module does not import them)."""
    rid = _Rid.next()
    payload = json.dumps(
        {
            "r": rid,
            "k": item.kind,
            "l": [[o, a, str(x)] for o, a, x in item.legs],
            "key": item.key,
            "m": item.memo,
            "f": item.fingerprint,
        },
        separators=(",", ":"),
    )
    keys = _keys()
    entered, got = _enter(rid, payload, keys)
    if entered == 1:
        try:
            return alone(item)
        finally:
            _lead_in_background(rid, batch)
    return _wait(rid, item, payload, keys, batch, alone, first=got)


def _enter(rid: str, payload: str, keys: tuple[str, str, str]) -> tuple[int, Any]:
    """Lead or queue, and wait for the first reply, in one round trip: the enter script and the
    first BLPOP travel together (a new leader's script pushes 'self' to its reply list, so its
    BLPOP returns at once). Returns (1 if we lead, the first BLPOP's answer: None or (key, value))."""
    queue, leader, reply = keys
    want, wake = _wake_names()
    entered, got = _exchange(
        "enter",
        [queue, leader, reply + rid, want],
        [rid, payload, LEASE_MS, leaders(), wake],
        # The BLPOP sent beside a script Redis had lost waits POLL_SECONDS for nothing (nothing was queued).
        then=("BLPOP", reply + rid, POLL_SECONDS),
        # The script's answer alone (":0\r\n") does not wake us: we sleep until the BLPOP's
        # answer follows it, one wake-up a transfer instead of two. Its shortest answer is
        # "*-1\r\n" (RESP2) or "_\r\n" (RESP3).
        first_read_bytes=len(":0\r\n_\r\n"),
    )
    return int(entered), None if got is None else tuple(got)


def _eval(name: str, keys: list[str], args: list[Any]) -> Any:
    """One script call on this thread's own connection (see _exchange)."""
    (answer,) = _exchange(name, keys, args)
    return answer


def _exchange(
    name: str, keys: list[str], args: list[Any], then: tuple | None = None, first_read_bytes: int = 1
) -> list[Any]:
    """The script `name` (and the command `then`, in the same round trip) on this thread's own
    Redis connection, packed and read with hiredis directly: redis-py's command path costs about
    twice the CPU of the round trip itself, and every combined transfer pays it. Loads the scripts
    again if Redis lost them (a restart, SCRIPT FLUSH). Returns each command's answer.

    `first_read_bytes`: the first read waits until that many bytes have come (SO_RCVLOWAT), so a
    first answer that comes at once does not wake the thread only to wait again for the next."""
    import hiredis

    for attempt in (1, 2):
        commands = [("EVALSHA", _scripts()[name], len(keys), *keys, *args)]
        if then is not None:
            commands.append(then)
        conn, reader = _own_connection()
        try:
            sock = conn._sock  # connected by _own_connection (AUTH, SELECT, TLS done by redis-py)
            _low_water(sock, first_read_bytes)
            sock.sendall(b"".join(hiredis.pack_command(command) for command in commands))
            answers: list[Any] = []
            while len(answers) < len(commands):  # read every answer, even after an error one
                answer = reader.gets()
                if answer is False:
                    _receive(sock, reader)
                    _low_water(sock, 1)  # later reads take what comes (an answer's last bytes)
                else:
                    answers.append(answer)
        except BaseException:
            _local.conn = None  # an answer may be left unread: never reuse this connection
            conn.disconnect()
            raise
        first = answers[0]
        if isinstance(first, hiredis.ReplyError) and str(first).startswith("NOSCRIPT") and attempt == 1:
            _scripts.cache_clear()
            log.warning("Redis had lost the combine scripts (%s); loaded again", first)
            continue
        for answer in answers:
            if isinstance(answer, hiredis.ReplyError):
                raise ResponseErrorFromRedis(str(answer))
        return answers
    raise AssertionError("unreachable")


class ResponseErrorFromRedis(Exception):
    """Redis answered a combine command with an error."""


_local = threading.local()


def _own_connection() -> tuple[Any, Any]:
    """This thread's Redis connection (connected) and its reply reader."""
    client = _redis()
    conn = getattr(_local, "conn", None)
    if conn is None or _local.client is not client:
        conn, _local.reader = _connected(client)
        _local.client, _local.conn, _local.low_water = client, conn, 1
    return conn, _local.reader


def _connected(client: Any) -> tuple[Any, Any]:
    """A new connection of `client`'s (AUTH, SELECT and TLS done by redis-py) and a reply reader."""
    import hiredis

    conn = client.connection_pool.make_connection()
    conn.connect()
    return conn, hiredis.Reader()


def _low_water(sock: socket.socket, size: int) -> None:
    """SO_RCVLOWAT of this thread's own connection: set only when it changes (a writer's
    connection keeps its enter size from one transfer to the next)."""
    if _local.low_water != size:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVLOWAT, size)
        _local.low_water = size


def _receive(sock: socket.socket, reader: Any) -> None:
    """Feed what the socket holds to the reader (waiting for it first)."""
    data = sock.recv(65536)
    if not data:
        raise ConnectionError("Redis closed the connection")
    reader.feed(data)


class _Waker:
    """How a lingering leader waits: on a connection subscribed to the wake channel, which a
    writer's enter script publishes to once the queue holds what the leader waits for. Asking
    Redis again every fraction of a millisecond instead kept a core busy while the writers just
    answered queued their next transfers, so they ran one at a time. The linger's end is this
    socket's own timeout: Redis's blocking timeouts are only as fine as its 100 ms timer. Without
    a connection (Redis unreachable), it sleeps LINGER_POLL_SECONDS."""

    def __init__(self, channel: str) -> None:
        self.channel = channel
        self.client = _redis()
        self.conn: Any = None
        self.reader: Any = None

    @classmethod
    def of_this_thread(cls, channel: str) -> _Waker:
        waker = getattr(_local, "waker", None)
        if waker is None or waker.channel != channel or waker.client is not _redis():
            if waker is not None:
                waker.close()
            waker = _local.waker = cls(channel)
        return waker

    def wait(self, seconds: float) -> None:
        """Until a wake message arrives (or one came since the last wait) or `seconds` pass."""
        if seconds <= 0:
            return
        try:
            if self.conn is None:
                self._subscribe()
            sock = self.conn._sock
            if select.select([sock], [], [], seconds)[0]:
                _receive(sock, self.reader)
                while self.reader.gets() is not False:  # every message that came is consumed
                    pass
        except Exception:
            log.warning("The combine leader's wake connection failed; it polls instead", exc_info=True)
            self.close()
            time.sleep(min(seconds, LINGER_POLL_SECONDS))

    def _subscribe(self) -> None:
        import hiredis

        self.conn, self.reader = _connected(self.client)
        subscribe: Any = ("SUBSCRIBE", self.channel)
        self.conn._sock.sendall(hiredis.pack_command(subscribe))
        while self.reader.gets() is False:  # the subscription's confirmation
            _receive(self.conn._sock, self.reader)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.disconnect()
        self.conn = None
        if getattr(_local, "waker", None) is self:
            _local.waker = None


# The background leader: a leader's own transfer returns to its caller at once, and a thread of
# the same process drains the queue for the others (a request is never held up leading, and the
# caller's next transfer joins the next batch instead of waiting for the lead to end). One thread
# per process, started on demand; it ends after DRAIN_IDLE_SECONDS without a lead, or at once when
# the process's main thread has ended (it hands the lead on first, so nobody waits for a lease to
# lapse). It uses its own database connection, closed after each lead as a request's would be.
DRAIN_IDLE_SECONDS = 2.0
_drain_lock = threading.Lock()
_drains: queue_module.SimpleQueue[tuple[str, Batch]] = queue_module.SimpleQueue()
_drainer: threading.Thread | None = None


def _forget_the_thread() -> None:
    """In a forked child: the parent's thread did not come along (and its lock may be held), and
    the parent's Redis connections are the parent's."""
    global _drain_lock, _drains, _drainer, _local
    _drain_lock, _drains, _drainer = threading.Lock(), queue_module.SimpleQueue(), None
    _local = threading.local()
    _Rid.forget()


os.register_at_fork(after_in_child=_forget_the_thread)


def _lead_in_background(token: str, batch: Batch) -> None:
    global _drainer
    with _drain_lock:
        _drains.put((token, batch))
        if _drainer is None or not _drainer.is_alive():
            _drainer = threading.Thread(target=_drain, name="ledger-combine-leader", daemon=False)
            _drainer.start()


def _stopping() -> bool:
    return not threading.main_thread().is_alive()


def _drain() -> None:
    global _drainer
    idle_since = time.monotonic()
    try:
        while True:
            try:
                token, batch = _drains.get(timeout=0.05)
            except queue_module.Empty:
                with _drain_lock:  # leave only with nothing handed to us (checked under the lock)
                    if (_stopping() or time.monotonic() - idle_since > DRAIN_IDLE_SECONDS) and _drains.empty():
                        _drainer = None
                        return
                continue
            try:
                _lead(token, batch)
            except Exception:
                log.exception("The ledger's combine leader failed; its lease lapses and a writer takes over")
            finally:
                connection.close_if_unusable_or_obsolete()
            idle_since = time.monotonic()
    finally:
        waker = getattr(_local, "waker", None)
        if waker is not None:
            waker.close()
        connection.close()


def _wait(
    rid: str, item: Item, payload: str, keys: tuple[str, str, str], batch: Batch, alone: Alone, *, first: Any
) -> PostResult:
    """Wait for our reply (`first`: the answer of the BLPOP sent with the enter script)."""
    queue, leader, reply = keys
    client = _redis()
    deadline = time.monotonic() + wait_seconds()
    got, polled = first, True
    while (left := deadline - time.monotonic()) > 0:
        if not polled:
            got = client.blpop([reply + rid], timeout=min(POLL_SECONDS, left))
        polled = False
        message = None if got is None else got[1].decode()
        if message is None and _eval("take_over", [queue, leader], [rid, LEASE_MS, leaders()]) != 1:
            continue  # no answer yet, and a leader still holds its lease
        if message is None or message == LEAD:
            # We lead now (taken over or handed the lead): our thread drains the queue, our own
            # item with it, and we keep waiting for its reply.
            _lead_in_background(rid, batch)
            continue
        return _own(message, item, alone)
    # Nobody answered in time. Still queued: take it back and post it here.
    if client.lrem(queue, 1, payload):
        return alone(item)
    # A leader took it: wait until no leader holds a transaction that could contain it.
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [FENCE_LOCK])
        late = client.lpop(reply + rid)
        if late is not None and late.decode() not in (LEAD, RETRY):
            return _decode(late.decode())
        return alone(item)


def _own(message: str, item: Item, alone: Alone) -> PostResult:
    if message == RETRY:  # the batch rolled back: nothing of it was written
        return alone(item)
    return _decode(message)


def _lead(token: str, batch: Batch) -> None:
    """Drain the queue while we lead (in the background thread)."""
    queue, leader, reply = _keys()
    wanted, wake = _wake_names()
    waker = _Waker.of_this_thread(wake)
    handoff_at = time.monotonic() + LEAD_SECONDS
    linger_until = 0.0
    # Items to linger for: the most writers a recent batch answered. Only the last batch's count
    # would let writers split into two groups alternating in half-size batches.
    recent: list[int] = []
    want = 1
    replies: dict[str, str] = {}
    while True:
        now = time.monotonic()
        stopping = _stopping()  # the process is ending: hand the lead on now, linger no more
        handoff = "1" if now > handoff_at or stopping else "0"
        linger = "1" if now < linger_until and not stopping else "0"
        sent = [x for pair in replies.items() for x in pair]
        replies = {}
        step, *raw = _eval(
            "turn",
            [queue, leader, reply, wanted],
            [token, handoff, LEASE_MS, LEAD, REPLY_TTL_MS, linger, MAX_BATCH, want, *sent],
        )
        if step == 3:  # still leading, fewer queued than we linger for: wait for them, or the linger's end
            waker.wait(linger_until - time.monotonic())
            continue
        if step != 0:  # we stepped down, handed the lead on or lost it
            return
        popped: list[dict] = []
        try:
            popped = [json.loads(entry) for entry in raw]
            items = [
                Item(i, p["k"], [(o, a, int(x)) for o, a, x in p["l"]], p["key"], p["m"], p["f"])
                for i, p in enumerate(popped)
            ]
            # The fence is taken first in the batch's transaction, before its look (see the
            # module's docstring). No retry here beyond the batch's own: a batch that fails rolls
            # back whole and each writer posts its own.
            outcomes = batch(items, [(_FENCE_SQL, [FENCE_LOCK])]) if items else {}
            replies = {p["r"]: _encode(outcomes[i]) for i, p in enumerate(popped)}
            if popped:
                linger_until = time.monotonic() + LINGER_SECONDS
                recent = [*recent[-7:], len(replies)]
                want = max(recent)
            Stats.batches += 1
            Stats.items += len(popped)
        except Exception:
            log.exception("A combined ledger batch of %d failed; its writers post their own", len(popped))
            replies = {p["r"]: RETRY for p in popped}


def _encode(result: PostResult) -> str:
    tx = result.transaction
    return json.dumps(
        {
            "s": result.status,
            "tx": None
            if tx is None
            else [tx.pk, tx.kind, tx.idempotency_key, tx.fingerprint, tx.memo, tx.created_at.isoformat()],
            "e": None if result.error is None else [result.error.code, result.error.detail],
        },
        separators=(",", ":"),
    )


def _decode(message: str) -> PostResult:
    data = json.loads(message)
    tx = None
    if data["tx"] is not None:
        pk, kind, key, fingerprint, memo, created_at = data["tx"]
        # Positional, in field order: Django's fast path, as rows loaded from the database are built.
        tx = Transaction(pk, kind, key, fingerprint, memo, datetime.fromisoformat(created_at))
        tx._state.adding = False
    error = None
    if data["e"] is not None:
        code, detail = data["e"]
        error = _ERRORS[code](detail)
    return PostResult(data["s"], transaction=tx, error=error)
