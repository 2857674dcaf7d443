"""The embedded default's broker (portal/broker.py) never hands a reader a half-written message
(issue 11, point 11): kombu's filesystem transport did, and the worker died on JSONDecodeError."""

from __future__ import annotations

import builtins
import json
import threading

from kombu import Connection
from kombu.transport import filesystem

from portal import broker as portal_broker


class SlowWriter:
    """`open` for the transport module under test: files opened for writing write their first half,
    then wait (bounded) until the test has let a reader look at the queue folder."""

    def __init__(self) -> None:
        self.half_written = threading.Event()
        self.reader_looked = threading.Event()

    def open(self, path, mode="r", *args, **kwargs):
        f = builtins.open(path, mode, *args, **kwargs)  # noqa: SIM115  (returned to the caller)
        if "w" not in mode:
            return f
        writer = self
        real_write = f.write

        def write(data: bytes) -> int:
            half = len(data) // 2
            real_write(data[:half])
            f.flush()
            writer.half_written.set()
            writer.reader_looked.wait(10)
            return half + real_write(data[half:])

        f.write = write
        return f


def channel(transport, folder):
    for sub in ("queue", "processed"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
    conn = Connection(
        "filesystem://",
        transport=transport,
        transport_options={
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
        },
    )
    return conn, conn.default_channel


def race(transport, module, tmp_path, monkeypatch):
    """A writer puts one message slowly; while it is half written a reader takes from the queue.
    Returns what the reader got (or the exception it raised), then what a second read gets."""
    slow = SlowWriter()
    monkeypatch.setattr(module, "open", slow.open, raising=False)
    conn, ch = channel(transport, tmp_path)
    payload = {"body": "x" * 200_000, "headers": {"task": "demo"}}
    writer = threading.Thread(target=ch._put, args=("celery", payload))
    writer.start()
    try:
        assert slow.half_written.wait(10)
        try:
            during = ch._get("celery")
        except Exception as exc:
            during = exc
    finally:
        slow.reader_looked.set()
        writer.join(10)
    monkeypatch.undo()
    try:
        after = ch._get("celery")
    except Exception as exc:
        after = exc
    conn.release()
    return payload, during, after


def test_kombus_own_filesystem_transport_hands_a_reader_a_half_written_message(tmp_path, monkeypatch):
    """The upstream race, reproduced: why the portal ships its own transport."""
    _payload, during, _after = race(filesystem.Transport, filesystem, tmp_path, monkeypatch)
    assert isinstance(during, json.JSONDecodeError)


def test_the_embedded_broker_never_exposes_a_half_written_message_to_a_racing_reader(tmp_path, monkeypatch):
    from queue import Empty

    payload, during, after = race(portal_broker.AtomicFilesystemTransport, portal_broker, tmp_path, monkeypatch)
    assert isinstance(during, Empty)  # not there yet: no partial file under a name readers take
    assert after == payload  # then whole
    assert not list((tmp_path / "queue").iterdir())  # no temporary file left behind


def test_many_messages_between_concurrent_writers_and_readers_arrive_whole_and_once(tmp_path):
    conn, _ = channel(portal_broker.AtomicFilesystemTransport, tmp_path)
    conn.release()
    sent = [{"n": i, "body": "y" * (i * 997 % 50_000)} for i in range(300)]
    received: list = []
    errors: list = []
    lock = threading.Lock()

    def write(part):
        c, ch = channel(portal_broker.AtomicFilesystemTransport, tmp_path)
        for message in part:
            ch._put("celery", message)
        c.release()

    def read():
        from queue import Empty

        c, ch = channel(portal_broker.AtomicFilesystemTransport, tmp_path)
        idle = 0
        while idle < 200:  # bounded: stops after 200 empty looks in a row once the writers are done
            try:
                message = ch._get("celery")
            except Empty:
                idle += 1 if not any(t.is_alive() for t in writers) else 0
                continue
            except Exception as exc:
                errors.append(exc)
                return
            idle = 0
            with lock:
                received.append(message)
        c.release()

    writers = [threading.Thread(target=write, args=(sent[i::3],)) for i in range(3)]
    readers = [threading.Thread(target=read) for _ in range(3)]
    for t in writers + readers:
        t.start()
    for t in writers + readers:
        t.join(60)
    assert not errors, errors
    assert sorted(received, key=lambda m: m["n"]) == sent


def test_settings_select_the_atomic_transport_for_the_embedded_broker(tmp_path):
    import subprocess
    import sys

    from .processes import ROOT, embedded_env

    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django; django.setup(); from portal.celery import app;"
            " print(type(app.connection_for_write().transport).__module__)",
        ],
        cwd=ROOT,
        env={**embedded_env(tmp_path / "var"), "DJANGO_SETTINGS_MODULE": "portal.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert out.stdout.strip() == "portal.broker"
