"""A request waiting for a concurrency slot awaits the limiter's queue future itself (no
coroutine of its own): cancelled while queued it leaves the queue, and cancelled after the
slot was granted but before it resumed it passes the slot on. Against a real HTTP responder
on 127.0.0.1 that holds its answers until the test releases them."""
from __future__ import annotations

import asyncio

import s3fast
from s3fast._transport import Request

from support.responder import responder


def _client(port: int) -> s3fast.Client:
    return s3fast.Client(endpoint_url=f"http://127.0.0.1:{port}", region="us-east-1",
                         aws_access_key_id="a", aws_secret_access_key="b",
                         config=s3fast.TransferConfig(max_concurrency=1))


def _held_server(gate: asyncio.Event, arrived: asyncio.Event):  # type: ignore[no-untyped-def]
    async def respond(writer: asyncio.StreamWriter) -> bool:
        arrived.set()
        await gate.wait()
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        await writer.drain()
        return True

    return responder(respond)


def _get(c: s3fast.Client) -> asyncio.Task[object]:
    return asyncio.ensure_future(c._transport.call(Request("GET", "b", "k")))


def _watch_queue(limiter: object) -> asyncio.Event:
    """Set once a request joins the limiter's queue (the real queue, observed)."""
    queued = asyncio.Event()
    enqueue = limiter.enqueue  # type: ignore[attr-defined]

    def observed(fut: asyncio.Future[None]) -> None:
        enqueue(fut)
        queued.set()

    limiter.enqueue = observed  # type: ignore[attr-defined]
    return queued


def test_a_request_cancelled_while_queued_for_a_slot_leaves_no_trace() -> None:
    async def main() -> None:
        gate, arrived = asyncio.Event(), asyncio.Event()
        async with _held_server(gate, arrived) as port:
            async with _client(port) as c:
                limiter = c.limiter
                queued = _watch_queue(limiter)
                first = _get(c)
                await arrived.wait()  # the first request holds the only slot
                second = _get(c)
                await queued.wait()
                second.cancel()
                await asyncio.gather(second, return_exceptions=True)
                assert limiter.waiting == 0 and limiter.in_flight == 1
                gate.set()
                assert (await first)[1] == b"ok"  # type: ignore[index]
                assert limiter.in_flight == 0
                assert (await _get(c))[1] == b"ok"  # type: ignore[index]
                assert limiter.in_flight == 0 and limiter.waiting == 0

    asyncio.run(asyncio.wait_for(main(), 30))


def test_a_slot_granted_to_a_request_cancelled_before_it_resumed_is_passed_on() -> None:
    async def main() -> None:
        gate, arrived = asyncio.Event(), asyncio.Event()
        async with _held_server(gate, arrived) as port:
            async with _client(port) as c:
                limiter = c.limiter
                queued = _watch_queue(limiter)
                first = _get(c)
                await arrived.wait()
                second = _get(c)
                await queued.wait()
                queued.clear()
                third = _get(c)
                await queued.wait()
                release = limiter.release

                def release_then_cancel() -> None:
                    # The first request's slot goes to the second, which is cancelled before
                    # it runs again: the slot must reach the third.
                    release()
                    del limiter.release  # type: ignore[attr-defined]
                    second.cancel()

                limiter.release = release_then_cancel  # type: ignore[method-assign]
                gate.set()
                assert (await first)[1] == b"ok"  # type: ignore[index]
                await asyncio.gather(second, return_exceptions=True)
                assert second.cancelled()
                assert (await third)[1] == b"ok"  # type: ignore[index]
                assert limiter.in_flight == 0 and limiter.waiting == 0

    asyncio.run(asyncio.wait_for(main(), 30))
