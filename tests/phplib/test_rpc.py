"""RR\\RPC\\RPC against a scripted peer: goridge.md §7-8 request bytes and reply checks."""

from __future__ import annotations

import json

from rr.goridge import frame as fr
from tests.phplib.rpcstub import Call, RPCStub, reply, run_php


def test_informer_list_request_and_reply_bytes() -> None:
    def handler(call: Call) -> bytes:
        head = bytes.fromhex("150815000000e7de6eb5000001000000 0d000000".replace(" ", ""))
        return head + b'informer.List["http"]'

    with RPCStub(handler) as stub:
        out = run_php(f"""
            $rpc = RR\\RPC\\RPC::create('{stub.address}');
            echo json_encode($rpc->call('informer.List', true));""")
        assert json.loads(out.stdout) == ["http"]
        assert stub.calls[0].raw == bytes.fromhex(
            "150811000000b0490c3a0000010000000d000000") + b"informer.Listtrue"


def test_metrics_add_request_header() -> None:
    with RPCStub(lambda c: reply(c, b"true")) as stub:
        run_php(f"""
            $rpc = RR\\RPC\\RPC::create('{stub.address}');
            $rpc->call('metrics.Add',
                       ['name' => 'app_hits', 'value' => 1, 'labels' => ['home']]);""")
        raw = stub.calls[0].raw
        assert raw[:20] == bytes.fromhex("15083a0000008f613f4d0000010000000b000000")
        assert raw[20:] == b'metrics.Add{"name":"app_hits","value":1,"labels":["home"]}'


def test_error_reply_becomes_service_exception() -> None:
    def handler(call: Call) -> bytes:
        head = bytes.fromhex("154817000000254e94470000010000000d000000")
        return head + b"informer.Listsome error"

    with RPCStub(handler) as stub:
        out = run_php(f"""
            $rpc = RR\\RPC\\RPC::create('{stub.address}');
            try {{ $rpc->call('informer.List', true); }}
            catch (RR\\RPC\\ServiceException $e) {{ echo get_class($e), '|', $e->getMessage(); }}
            // the connection stays usable and the sequence advanced
            echo '|', RR\\RPC\\RPC::nextSequence();""")
        assert out.stdout == (f"RR\\RPC\\ServiceException|Error 'some error' on {stub.address}|2")


def test_sequence_is_shared_and_starts_at_one() -> None:
    with RPCStub(lambda c: reply(c, b"1")) as stub:
        run_php(f"""
            $a = RR\\RPC\\RPC::create('{stub.address}');
            $b = RR\\RPC\\RPC::create('{stub.address}');
            $a->call('x.A', 1); $b->call('x.B', 2); $a->call('x.C', 3);""")
        assert [c.seq for c in stub.calls] == [1, 2, 3]
        assert [c.method for c in stub.calls] == ["x.A", "x.B", "x.C"]


def test_sequence_mismatch_and_missing_options_throw() -> None:
    def wrong_seq(call: Call) -> bytes:
        m = call.method.encode()
        return fr.encode(m + b"true", call.flags, (call.seq + 7, len(m)))

    with RPCStub(wrong_seq) as stub:
        out = run_php(f"""
            $rpc = RR\\RPC\\RPC::create('{stub.address}');
            try {{ $rpc->call('x.A', 1); }}
            catch (RR\\RPC\\RPCException $e) {{ echo $e->getMessage(); }}
            echo '|', RR\\RPC\\RPC::nextSequence();""")
        assert out.stdout == "Invalid RPC frame, sequence mismatch|1"

    with RPCStub(lambda c: fr.encode(b"true", c.flags, (c.seq,))) as stub:
        out = run_php(f"""
            try {{ RR\\RPC\\RPC::create('{stub.address}')->call('x.A', 1); }}
            catch (RR\\RPC\\RPCException $e) {{ echo $e->getMessage(); }}""")
        assert out.stdout == "Invalid RPC frame, options missing"


def test_service_prefix_and_codecs() -> None:
    with RPCStub(lambda c: reply(c, c.body)) as stub:
        out = run_php(f"""
            $rpc = RR\\RPC\\RPC::create('{stub.address}');
            echo $rpc->withServicePrefix('metrics')->call('observe', 'x'), '|';
            echo $rpc->withCodec(RR\\Goridge\\Frame::CODEC_RAW)->call('s.Raw', "\\x00\\x01");""")
        assert out.stdout == "x|\x00\x01"
        assert [(c.method, c.flags, c.body) for c in stub.calls] == [
            ("metrics.Observe", fr.CODEC_JSON, b'"x"'), ("s.Raw", fr.CODEC_RAW, b"\x00\x01")]


def test_connect_failure_and_bad_addresses() -> None:
    out = run_php("""
        foreach (['tcp://:6001', 'tcp://127.0.0.1', 'ftp://x:1', 'tcp://[::1]:6001'] as $a) {
            try { RR\\Goridge\\Relay::create($a); echo "ok "; }
            catch (RR\\Goridge\\RelayException $e) { echo "bad "; }
        }
        $rpc = RR\\RPC\\RPC::create('tcp://127.0.0.1:1');
        try { $rpc->call('x.A', 1); }
        catch (RR\\Goridge\\RelayException $e) { echo $e->getMessage(); }""")
    assert out.stdout == "bad bad bad bad Unable to establish connection tcp://127.0.0.1:1"


def test_unix_socket_relay(tmp_path: object) -> None:
    import socket
    import threading
    from pathlib import Path

    path = Path(str(tmp_path)) / "rpc.sock"
    srv = socket.socket(socket.AF_UNIX)
    srv.bind(str(path))
    srv.listen(1)
    received: list[bytes] = []

    def serve() -> None:
        conn, _ = srv.accept()
        with conn:
            parser = fr.FrameParser()
            while True:
                frames = parser.feed(conn.recv(4096))
                if frames:
                    f = frames[0]
                    received.append(f.payload)
                    conn.sendall(fr.encode(f.payload[:f.options[1]] + b'"pong"', f.flags,
                                           f.options))
                    return

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    out = run_php(f"echo RR\\RPC\\RPC::create('unix://{path}')->call('x.Ping', 1);")
    t.join(10)
    srv.close()
    assert out.stdout == "pong"
    assert received == [b"x.Ping1"]
