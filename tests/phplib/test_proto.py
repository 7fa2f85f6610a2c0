"""The hand-written PHP protobuf codec against the spec's hex and Python protobuf."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rr.jobs.proto import jobs_pb2
from rr.kv.proto import kv_pb2
from tests.phplib.rpcstub import run_php

PUSH_HEX = ("0a470a104170705c4a6f625c53656e644d61696c120830663165326433631a0c7b22746f223a22614062"
            "227d220f0a08617474656d70747312030a01312a0a1206656d61696c731805")
STATS_HEX = "0a1e0a06656d61696c7312066d656d6f72791a06656d61696c7320033801400a"
DECLARE_HEX = ("0a0d0a046e616d6512056c6f63616c0a100a0664726976657212066d656d6f72790a0e0a087072696f"
               "72697479120231300a0e0a08707265666574636812023130")
KV_HEX = ("0a056361636865123" "10a06757365723a31120c733a353a2268656c6c6f223b1a19323033302d30312d"
          "30315430303a30303a30302b30303a3030")


def _php_hex(expr: str) -> str:
    return run_php(f"use RR\\Jobs\\DTO; use RR\\KV\\DTO as KV; echo bin2hex({expr});").stdout


def test_pipelines() -> None:
    got = _php_hex("(new DTO\\Pipelines(['emails', 'billing']))->encode()")
    assert got == "0a06656d61696c730a0762696c6c696e67"
    py = jobs_pb2.Pipelines(pipelines=["emails", "billing"])
    assert bytes.fromhex(got) == py.SerializeToString()


def test_push_request() -> None:
    got = _php_hex("(new DTO\\PushRequest(new DTO\\Job('App\\\\Job\\\\SendMail', '0f1e2d3c', "
                   "'{\"to\":\"a@b\"}', ['attempts' => ['1']], "
                   "new DTO\\Options(pipeline: 'emails', delay: 5))))->encode()")
    assert got == PUSH_HEX
    msg = jobs_pb2.PushRequest()
    msg.ParseFromString(bytes.fromhex(got))
    assert msg.job.job == "App\\Job\\SendMail" and msg.job.options.delay == 5
    assert list(msg.job.headers["attempts"].value) == ["1"]
    assert msg.SerializeToString() == bytes.fromhex(PUSH_HEX)


def test_stats_encode_and_decode() -> None:
    got = _php_hex("(new DTO\\Stats([new DTO\\Stat('emails', 'memory', 'emails', 3, "
                   "ready: true, priority: 10)]))->encode()")
    assert got == STATS_HEX
    out = run_php(f"$s = RR\\Jobs\\DTO\\Stats::decode(hex2bin('{STATS_HEX}'))->stats[0];"
                  "echo json_encode(get_object_vars($s));").stdout
    assert json.loads(out) == {"pipeline": "emails", "driver": "memory", "queue": "emails",
                               "active": 3, "delayed": 0, "reserved": 0, "ready": True,
                               "priority": 10}


def test_declare_request() -> None:
    got = _php_hex("(new DTO\\DeclareRequest(['name' => 'local', 'driver' => 'memory', "
                   "'priority' => '10', 'prefetch' => '10']))->encode()")
    assert got == DECLARE_HEX


def test_kv_request() -> None:
    got = _php_hex("(new KV\\Request('cache', [new KV\\Item('user:1', 's:5:\"hello\";', "
                   "'2030-01-01T00:00:00+00:00')]))->encode()")
    assert got == KV_HEX
    msg = kv_pb2.Request()
    msg.ParseFromString(bytes.fromhex(got))
    assert msg.items[0].timeout == "2030-01-01T00:00:00+00:00"


def test_negative_and_large_ints_match_python() -> None:
    got = _php_hex("(new DTO\\Options(priority: -5, pipeline: 'p', delay: 9007199254740993, "
                   "autoAck: true, topic: 't', metadata: 'm', offset: -1, "
                   "partition: -2))->encode()")
    py = jobs_pb2.Options(priority=-5, pipeline="p", delay=9007199254740993, auto_ack=True,
                          topic="t", metadata="m", offset=-1, partition=-2)
    assert bytes.fromhex(got) == py.SerializeToString()
    back = run_php("echo json_encode(get_object_vars("
                   f"RR\\Jobs\\DTO\\Options::decode(hex2bin('{got}'))));")
    assert json.loads(back.stdout) == {"priority": -5, "pipeline": "p", "delay": 9007199254740993,
                                       "autoAck": True, "topic": "t", "metadata": "m",
                                       "offset": -1, "partition": -2}


def test_decoder_skips_unknown_fields_and_rejects_truncation() -> None:
    # field 15 varint + field 14 fixed32 + field 13 fixed64 before a known field
    data = "7801" + "75" + "00000000" + "69" + "0000000000000000" + "0a0161"
    out = run_php("echo json_encode("
                  f"RR\\Jobs\\DTO\\Pipelines::decode(hex2bin('{data}'))->pipelines);")
    assert json.loads(out.stdout) == ["a"]
    bad = run_php("try { RR\\Jobs\\DTO\\Pipelines::decode(hex2bin('0a05616263')); }"
                  "catch (RR\\Proto\\DecodeException $e) { echo 'truncated'; }")
    assert bad.stdout == "truncated"


header_names = st.text(alphabet=st.characters(min_codepoint=97, max_codepoint=122), min_size=1,
                       max_size=8)


@settings(max_examples=15, deadline=None)
@given(job=st.text(max_size=20), payload=st.binary(max_size=64),
       headers=st.dictionaries(header_names, st.lists(st.text(max_size=8), min_size=1, max_size=3),
                               max_size=3),
       priority=st.integers(-(2**63), 2**63 - 1), delay=st.integers(0, 2**40))
def test_job_roundtrip_against_python(job: str, payload: bytes, headers: dict[str, list[str]],
                                      priority: int, delay: int) -> None:
    py = jobs_pb2.Job(job=job, id="id", payload=payload,
                      options=jobs_pb2.Options(pipeline="p", priority=priority, delay=delay))
    for name, values in headers.items():
        py.headers[name].value.extend(values)
    # PHP decodes Python's bytes and re-encodes them; Python must read the same message back
    hex_in = py.SerializeToString().hex()
    out = run_php(f"echo bin2hex(RR\\Jobs\\DTO\\Job::decode(hex2bin('{hex_in}'))->encode());")
    again = jobs_pb2.Job()
    again.ParseFromString(bytes.fromhex(out.stdout))
    assert again == py


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, 2**31, 2**63 - 1, -1, -(2**63)])
def test_varint_matches_python(value: int) -> None:
    got = _php_hex(f"RR\\Proto\\Wire::int(1, {value if value != -(2**63) else 'PHP_INT_MIN'})")
    assert bytes.fromhex(got) == jobs_pb2.Options(priority=value).SerializeToString()
