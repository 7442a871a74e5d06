"""One s3fast client per (process, event loop) for a filesystem instance.

A client's connections and tuner task belong to the loop that made them, and its sockets
to the process: after ``fork`` the child must not touch the parent's connections (both
would read the same sockets), so it drops them unclosed and builds its own.
"""
from __future__ import annotations

import asyncio
import os
from typing import Any

from .._client import Client


class ClientTable:
    def __init__(self, kwargs: dict[str, Any]) -> None:
        self._kwargs = kwargs
        self._pid = os.getpid()
        #: made now so that bad arguments (a missing profile...) fail where the filesystem is
        #: made, not at its first I/O; the first loop to ask takes it (a client binds to no
        #: loop, opens no socket and starts no task until it is used)
        self._spare: Client | None = Client(**kwargs)
        #: id(loop) -> (loop, client); the loop is kept to tell a reused id from the same loop
        self._clients: dict[int, tuple[asyncio.AbstractEventLoop, Client]] = {}

    def __repr__(self) -> str:
        return f"<ClientTable pid={self._pid} clients={len(self._clients)}>"

    def get(self) -> Client:
        """The client of the running loop, made on first use (call from a coroutine)."""
        loop = asyncio.get_running_loop()
        if self._pid != os.getpid():
            # forked: the parent's clients are its own; forget them without closing
            self._pid = os.getpid()
            self._clients = {}
            self._spare = None
        entry = self._clients.get(id(loop))
        if entry is not None and entry[0] is loop:
            return entry[1]
        # No await between the look-up and the insert: concurrent first calls on one loop
        # cannot make two clients.
        self._prune()
        client, self._spare = self._spare or Client(**self._kwargs), None
        self._clients[id(loop)] = (loop, client)
        return client

    def _prune(self) -> None:
        for key, (loop, _) in list(self._clients.items()):
            if loop.is_closed():
                del self._clients[key]

    def pop_running(self) -> Client | None:
        """Remove and return the running loop's client (to close it on that loop)."""
        if self._pid != os.getpid():
            return None
        entry = self._clients.pop(id(asyncio.get_running_loop()), None)
        return entry[1] if entry else None
