"""RR\\Jobs\\Consumer / ReceivedTask: exact reply bodies of php-sdk-jobs-notes.md §2."""

from __future__ import annotations

import json

import pytest

from rr.goridge import frame as fr
from tests.phplib.harness import PhpPipeWorker, split_payload

CTX = {"id": "u1", "job": "App\\Jobs\\SendMail", "driver": "memory",
       "headers": {"attempts": ["1"]}, "pipeline": "emails"}


def _consumer() -> PhpPipeWorker:
    w = PhpPipeWorker("phplib_consumer.php", env={"RR_MODE": "jobs"})
    w.handshake()
    return w


def _reply(w: PhpPipeWorker, body: bytes, ctx: dict[str, object] | None = None) -> bytes:
    frame = w.request(json.dumps(ctx or CTX).encode(), body, fr.CODEC_RAW)
    assert frame.flags == 0 and frame.byte10 == 0 and frame.options == (0,)
    context, reply = split_payload(frame)
    assert context == b""
    return reply


@pytest.mark.parametrize(("action", "expected"), [
    (b"ack", b'{"type":2,"data":[]}'),
    (b"complete", b'{"type":0,"data":[]}'),
    (b"nack:smtp down",
     b'{"type":3,"data":{"message":"smtp down","requeue":false,"delay_seconds":0}}'),
    (b"redeliver:smtp down",
     b'{"type":3,"data":{"message":"smtp down","requeue":true,"delay_seconds":30}}'),
    (b"requeue:later",
     b'{"type":4,"data":{"message":"later","delay_seconds":10,"headers":{"attempts":["2"]}}}'),
    (b"fail:boom",
     b'{"type":1,"data":{"message":"boom","requeue":false,"delay_seconds":0,'
     b'"headers":{"attempts":["1"]}}}'),
    (b"fail-requeue:boom",
     b'{"type":1,"data":{"message":"boom","requeue":true,"delay_seconds":0,'
     b'"headers":{"attempts":["1"]}}}'),
])
def test_reply_bodies(action: bytes, expected: bytes) -> None:
    with _consumer() as w:
        assert _reply(w, action) == expected


def test_ack_frame_bytes() -> None:
    with _consumer() as w:
        w.send_request(json.dumps(CTX).encode(), b"ack", fr.CODEC_RAW)
        assert w.read_raw_frame() == fr.encode_payload(b"", b'{"type":2,"data":[]}')


def test_requeue_and_fail_without_headers_omit_the_key() -> None:
    with _consumer() as w:
        ctx = {**CTX, "headers": None}
        assert _reply(w, b"fail:x", ctx) == (
            b'{"type":1,"data":{"message":"x","requeue":false,"delay_seconds":0}}')


def test_second_answer_is_not_sent() -> None:
    with _consumer() as w:
        assert _reply(w, b"twice") == b'{"type":2,"data":[]}'
        # had a second frame been written, it would be read here instead of this reply
        assert _reply(w, b"ack") == b'{"type":2,"data":[]}'


def test_getters_and_defaults() -> None:
    with _consumer() as w:
        info = json.loads(json.loads(_reply(w, b"info"))["data"]["message"])
        assert info == {"id": "u1", "name": "App\\Jobs\\SendMail", "pipeline": "emails",
                        "queue": "unknown", "driver": "memory",
                        "headers": {"attempts": ["1"]}, "attempts": "1",
                        "hasMissing": False, "partition": 0, "offset": 0}
        kafka = {"id": "a1", "job": "Ingest", "driver": "kafka", "headers": {},
                 "pipeline": "events", "queue": "t", "topic": "t", "partition": 3,
                 "offset": 1187}
        info = json.loads(json.loads(_reply(w, b"info", kafka))["data"]["message"])
        assert (info["queue"], info["partition"], info["offset"]) == ("t", 3, 1187)
        assert info["headers"] == []  # an empty PHP array


def test_context_without_id_kills_the_consumer() -> None:
    with _consumer() as w:
        w.send_request(b'{"job":"x"}', b"ack", fr.CODEC_RAW)
        assert w.proc.wait(15) != 0
        assert w.stdout_closed()


def test_empty_context_kills_the_consumer() -> None:
    with _consumer() as w:
        w.send_request(b"", b"ack", fr.CODEC_RAW)
        assert w.proc.wait(15) != 0
        assert "does not have a valid header" in w.stderr


def test_stop_ends_the_loop() -> None:
    with _consumer() as w:
        assert w.stop() == 0
