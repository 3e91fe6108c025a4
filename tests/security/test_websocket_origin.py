"""The event stream refuses cross-site browser sockets (a foreign Origin) but serves agents, which send none."""

from __future__ import annotations

import asyncio

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from config.asgi import application


async def _connect(path: str, headers: list[tuple[bytes, bytes]]):
    communicator = WebsocketCommunicator(application, path, headers=headers)
    connected, _ = await communicator.connect(timeout=5)
    await communicator.disconnect()
    await database_sync_to_async(connections.close_all)()  # the consumer's DB thread, or teardown waits on it
    return connected


@pytest.mark.django_db(transaction=True)
def test_origin_rules(api_token):
    path = f"/v1/events?api_key={api_token}"
    assert asyncio.run(_connect(path, [])) is True
    assert asyncio.run(_connect(path, [(b"origin", b"http://localhost")])) is True
    assert asyncio.run(_connect(path, [(b"origin", b"https://evil.example")])) is False
    # And no key, no stream: the error is said, then the socket closes with 4401.
    assert asyncio.run(_refused("/v1/events")) == ("invalid_api_key", 4401)


async def _refused(path: str):
    communicator = WebsocketCommunicator(application, path)
    await communicator.connect(timeout=5)
    message = await communicator.receive_json_from(timeout=5)
    closed = await communicator.receive_output(timeout=5)
    await communicator.wait()
    await database_sync_to_async(connections.close_all)()
    return message["code"], closed["code"]
