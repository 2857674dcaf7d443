"""Django's Redis cache, reusing one redis-py client per connection pool.

The stock backend builds a new `redis.Redis` object for every cache call, and each build fills a
table of ~1,000 response callbacks: about 0.2 ms of CPU per call. Every authenticated request
makes a cache call (its session and user, together: portal.sessions), so that overhead showed in
request throughput. redis-py clients are thread-safe, so one per pool is enough."""

from __future__ import annotations

import os
import pickle
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient


class PooledRedisCacheClient(RedisCacheClient):
    # Private helpers of Django's RedisCacheClient that django-stubs does not declare.
    _client: Any
    _get_connection_pool: Any
    _get_connection_pool_index: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: object = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)
        client = self._clients.get(index)
        if client is None:
            client = self._clients[index] = self._client(connection_pool=self._get_connection_pool(write))
        return client


# One round trip for "a value, and the value its pointer names": GET KEYS[1]; GET KEYS[2] (a
# pointer, an integer id); GET ARGV[1] .. that id. Used by portal.sessions to load a session and
# its user's cached row together.
_GET_WITH_REFERENCED = """
local value = redis.call('GET', KEYS[1])
if not value then return {false, false, false} end
local ref = redis.call('GET', KEYS[2])
if not ref then return {value, false, false} end
return {value, ref, redis.call('GET', ARGV[1] .. ref)}
"""


def _loads(data: bytes, loads: Any) -> Any:
    """Django's RedisSerializer.loads for a value stored pickled (protocol 2 or later starts with
    the PROTO opcode 0x80, which int() refuses): unpickled directly, without first trying int()
    and catching its ValueError. Anything else goes through `loads` (the serializer's)."""
    return pickle.loads(data) if data[:1] == b"\x80" else loads(data)  # noqa: S301 - our own cache entries, as Django's serializer


class PortalRedisCache(RedisCache):
    _cache: Any  # Django's cached client property, not declared by django-stubs

    def __init__(self, server: str, params: dict) -> None:
        super().__init__(server, params)
        self._class = PooledRedisCacheClient
        self._script: Any = None
        # (process id, pool, connection): the connection get_with_referenced keeps checked out.
        self._held: tuple[int, Any, Any] | None = None

    def get_with_referenced(self, key: str, pointer_key: str, target_prefix: str) -> tuple[Any, Any, Any]:
        """(value of `key`, the id stored at `pointer_key`, value of `target_prefix + <that id>`)
        in one Redis round trip; None for whatever is missing. `pointer_key` must hold an int."""
        client = self._cache.get_client(key)
        if self._script is None:
            self._script = client.register_script(_GET_WITH_REFERENCED)
        # make_key without validate_key: that only warns about keys memcached would refuse.
        keys = [self.make_key(key), self.make_key(pointer_key)]
        args = [self.make_key(target_prefix)]
        try:
            value, ref, target = self._evalsha_held(client, keys, args)
        except Exception:
            # redis-py's whole path: its retries, and NOSCRIPT (loads the script, then runs it).
            value, ref, target = self._script(keys=keys, args=args, client=client)
        loads = self._cache._serializer.loads
        return (
            None if value is None else _loads(value, loads),
            None if ref is None else loads(ref),
            None if target is None else _loads(target, loads),
        )

    def _evalsha_held(self, client: Any, keys: list[str], args: list[str]) -> Any:
        """EVALSHA on a connection this cache (one per thread, as Django's caches are) keeps
        checked out of the client's pool: every signed-in request makes this call, and redis-py's
        per-command path (pool checkout and return with a readiness poll, retry wrapper,
        observability hooks) cost about as much CPU as the round trip itself. Any failure drops
        the connection (returned to the pool, disconnected) and raises, for the caller's full path."""
        pool = client.connection_pool
        held = self._held
        if held is None or held[0] != os.getpid() or held[1] is not pool:
            held = self._held = (os.getpid(), pool, pool.get_connection())
        connection = held[2]
        try:
            connection.send_packed_command(
                connection.pack_command("EVALSHA", self._script.sha, len(keys), *keys, *args)
            )
            return connection.read_response()
        except BaseException:
            self._held = None
            connection.disconnect()
            pool.release(connection)
            raise
