"""The embedded default's Celery broker: kombu's filesystem transport, made safe to share between
processes.

kombu's own transport creates a message file under its final name and then writes it; a worker
listing the folder in between claims the empty (or half-written) file and dies on JSONDecodeError
(the portal stopped by itself ~16 minutes after `bin/run`). Here a message is written and fsync'ed
under a temporary name the reader ignores, then renamed into place with os.replace(): a reader sees
a whole message or none. A reader claims a message by renaming it into the processed folder (same
filesystem, atomic: two readers never both get one), then reads and removes it.

settings.py selects it (CELERY_BROKER_TRANSPORT) whenever the broker URL is filesystem://."""

from __future__ import annotations

import contextlib
import os
import uuid
from queue import Empty
from time import monotonic

from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import bytes_to_str, str_to_bytes
from kombu.utils.json import dumps, loads

TEMP_PREFIX = ".incoming-"  # never of the form "<stamp>_<uuid>.<queue>.msg" that readers look for


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: dict, **kwargs) -> None:
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        temp = os.path.join(self.data_folder_out, TEMP_PREFIX + name + ".tmp")
        try:
            with open(temp, "wb") as f:
                f.write(str_to_bytes(dumps(payload)))
                f.flush()
                os.fsync(f.fileno())
            os.replace(temp, final)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc

    def _get(self, queue: str) -> dict:
        suffix = f"{queue}.msg"
        claimed_dir = self.processed_folder
        for name in sorted(os.listdir(self.data_folder_in)):
            if name.startswith(TEMP_PREFIX) or name.partition(".")[2] != suffix:
                continue
            claimed = os.path.join(claimed_dir, f"{name}.{os.getpid()}")
            try:
                os.rename(os.path.join(self.data_folder_in, name), claimed)
            except OSError:
                continue  # another reader claimed it first
            try:
                with open(claimed, "rb") as f:
                    payload = f.read()
                if not self.store_processed:
                    os.remove(claimed)
            except OSError as exc:
                raise ChannelError(f"Cannot read file {claimed!r} from queue.") from exc
            return loads(bytes_to_str(payload))
        raise Empty()


class AtomicFilesystemTransport(filesystem.Transport):
    Channel = Channel
