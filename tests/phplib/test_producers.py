"""Jobs producer, KV cache and Metrics clients: the RPC calls they make (stubbed peer)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from rr.goridge import frame as fr
from rr.jobs.proto import jobs_pb2
from rr.kv.proto import kv_pb2
from tests.phplib.rpcstub import Call, RPCStub, reply, run_php


def _jobs_handler(call: Call) -> bytes:
    if call.method == "jobs.Stat":
        stats = jobs_pb2.Stats(stats=[
            jobs_pb2.Stat(pipeline="other", driver="memory", ready=True),
            jobs_pb2.Stat(pipeline="emails", driver="memory", queue="emails", active=2,
                          ready=False, priority=10)])
        return reply(call, stats.SerializeToString())
    if call.method == "jobs.List":
        return reply(call, jobs_pb2.Pipelines(pipelines=["a", "b"]).SerializeToString())
    if call.method == "jobs.Push":
        req = jobs_pb2.PushRequest()
        req.ParseFromString(call.body)
        if req.job.options.pipeline == "missing":
            return reply(call, b"no such pipeline, requested: missing", error=True)
    return reply(call)


def test_jobs_calls() -> None:
    with RPCStub(_jobs_handler) as stub:
        out = run_php(f"""
            use RR\\Jobs\\{{Jobs, Options, MemoryCreateInfo}};
            $jobs = new Jobs(RR\\RPC\\RPC::create('{stub.address}'));
            $q = $jobs->connect('emails', new Options(priority: 3, headers: ['tenant' => ['42']]));
            $t = $q->push('App\\\\SendMail', '{{"to":"a"}}', new Options(delay: 60, autoAck: true));
            $q->dispatchMany(
                $q->create('A', 'x')->withHeader('attempts', '1'),
                $q->create('B', 'y', new Options(headers: ['only' => ['me'], 'empty' => []])));
            $q->pause(); $q->resume();
            $jobs->pause('a', $q);
            $created = $jobs->create(new MemoryCreateInfo('local'));
            $jobs->create(['name' => 'x', 'driver' => 'amqp', 'durable' => false,
                           'queue_headers' => ['x-max' => 5]]);
            $stat = $q->getPipelineStat();
            $r = ['id' => $t->getId(), 'paused' => $q->isPaused(), 'active' => $stat->active,
                  'names' => array_keys(iterator_to_array($jobs)), 'count' => count($jobs),
                  'created' => $created->getName()];
            try {{ $jobs->connect('missing')->push('X', ''); }}
            catch (RR\\Jobs\\JobsException $e) {{ $r['error'] = $e->getMessage(); }}
            echo json_encode($r);""")
        result = json.loads(out.stdout)
        assert result["paused"] is True and result["active"] == 2
        assert result["names"] == ["a", "b"] and result["count"] == 2
        assert result["created"] == "local"
        assert "no such pipeline, requested: missing" in result["error"]
        assert all(c.flags == fr.CODEC_PROTO for c in stub.calls)
        methods = [c.method for c in stub.calls]
        assert methods == ["jobs.Push", "jobs.PushBatch", "jobs.Pause", "jobs.Resume",
                           "jobs.Pause", "jobs.Declare", "jobs.Declare", "jobs.Stat",
                           "jobs.Stat", "jobs.List", "jobs.List", "jobs.Push"]

        push = jobs_pb2.PushRequest()
        push.ParseFromString(stub.calls[0].body)
        assert push.job.id == result["id"] and len(push.job.id) == 36 and push.job.id[14] == "4"
        assert (push.job.job, push.job.payload) == ("App\\SendMail", b'{"to":"a"}')
        o = push.job.options
        assert (o.pipeline, o.priority, o.delay, o.auto_ack) == ("emails", 3, 60, True)
        assert {k: list(v.value) for k, v in push.job.headers.items()} == {"tenant": ["42"]}

        batch = jobs_pb2.PushBatchRequest()
        batch.ParseFromString(stub.calls[1].body)
        assert [j.job for j in batch.jobs] == ["A", "B"]
        assert {k: list(v.value) for k, v in batch.jobs[0].headers.items()} == {
            "tenant": ["42"], "attempts": ["1"]}
        # per-task headers replace the queue's wholesale; empty lists are not sent
        assert {k: list(v.value) for k, v in batch.jobs[1].headers.items()} == {"only": ["me"]}
        assert batch.jobs[0].id != batch.jobs[1].id

        pipes = [jobs_pb2.Pipelines() for _ in range(3)]
        for p, c in zip(pipes, stub.calls[2:5], strict=True):
            p.ParseFromString(c.body)
        assert [list(p.pipelines) for p in pipes] == [["emails"], ["emails"], ["a", "emails"]]

        declare = jobs_pb2.DeclareRequest()
        declare.ParseFromString(stub.calls[5].body)
        assert dict(declare.pipeline) == {"name": "local", "driver": "memory",
                                          "priority": "10", "prefetch": "10"}
        declare.ParseFromString(stub.calls[6].body)
        assert dict(declare.pipeline) == {"name": "x", "driver": "amqp", "durable": "false",
                                          "queue_headers": '{"x-max":5}'}
        assert stub.calls[7].body == b"" and stub.calls[9].body == b""


def _kv_handler(store: dict[str, tuple[bytes, str]]):
    def handler(call: Call) -> bytes:
        req = kv_pb2.Request()
        req.ParseFromString(call.body)
        if req.storage != "cache":
            return reply(call, f"kv_plugin_mget:\n\tno such storage: {req.storage}".encode(),
                         error=True)
        resp = kv_pb2.Response()
        if call.method == "kv.Set":
            for it in req.items:
                store[it.key] = (it.value, it.timeout)
        elif call.method == "kv.MGet":
            resp.items.extend(kv_pb2.Item(key=it.key, value=store[it.key][0])
                              for it in req.items if it.key in store)
        elif call.method == "kv.Has":
            resp.items.extend(kv_pb2.Item(key=it.key) for it in req.items if it.key in store)
        elif call.method == "kv.TTL":
            resp.items.extend(kv_pb2.Item(key=it.key, timeout=store[it.key][1])
                              for it in req.items if it.key in store)
        elif call.method == "kv.Delete":
            for it in req.items:
                store.pop(it.key, None)
        elif call.method == "kv.Clear":
            store.clear()
        return reply(call, resp.SerializeToString())
    return handler


def test_kv_cache() -> None:
    store: dict[str, tuple[bytes, str]] = {}
    with RPCStub(_kv_handler(store)) as stub:
        out = run_php(f"""
            $f = new RR\\KV\\Factory(RR\\RPC\\RPC::create('{stub.address}'));
            $c = $f->select('cache');
            $c->set('user:1', 'hello', 3600);
            $c->setMultiple(['n' => 42, 'arr' => ['k' => 'v'], 'no' => false, 'nil' => null]);
            $r = ['get' => $c->get('user:1'), 'miss' => $c->get('nope', 'dflt'),
                  'multi' => $c->getMultiple(['n', 'arr', 'no', 'nil', 'nope'], 'd'),
                  'has' => $c->has('n'), 'hasNot' => $c->has('nope'),
                  'ttl' => $c->getTtl('user:1')?->format(DATE_RFC3339),
                  'noTtl' => $c->getTtl('n')];
            $c->delete('n'); $r['afterDelete'] = $c->has('n');
            $c->deleteMultiple(['arr', 'no']);
            try {{ $f->select('nope')->get('x'); }}
            catch (RR\\KV\\StorageException $e) {{ $r['storage'] = 'StorageException'; }}
            $c->clear();
            $r['cleared'] = $c->has('user:1');
            echo json_encode($r);""")
        r = json.loads(out.stdout)
        assert r["get"] == "hello" and r["miss"] == "dflt"
        assert r["multi"] == {"n": 42, "arr": {"k": "v"}, "no": False, "nil": None, "nope": "d"}
        assert r["has"] is True and r["hasNot"] is False and r["afterDelete"] is False
        assert r["noTtl"] is None and r["storage"] == "StorageException" and r["cleared"] is False
        ttl = datetime.fromisoformat(r["ttl"])
        assert timedelta(seconds=3500) < ttl - datetime.now(UTC) <= timedelta(seconds=3600)

        set_req = kv_pb2.Request()
        set_req.ParseFromString(stub.calls[0].body)
        item = set_req.items[0]
        assert (set_req.storage, item.key, item.value) == ("cache", "user:1", b's:5:"hello";')
        # RFC 3339, UTC, no fractional seconds
        assert len(item.timeout) == 25 and item.timeout.endswith("+00:00")
        assert "." not in item.timeout
        set_req.ParseFromString(stub.calls[1].body)
        assert [(i.key, i.value, i.timeout) for i in set_req.items] == [
            ("n", b"i:42;", ""), ("arr", b'a:1:{s:1:"k";s:1:"v";}', ""), ("no", b"b:0;", ""),
            ("nil", b"N;", "")]
        clear = next(c for c in stub.calls if c.method == "kv.Clear")
        assert clear.body == kv_pb2.Request(storage="cache").SerializeToString()


def test_kv_rejects_non_string_keys() -> None:
    out = run_php("""
        $c = new RR\\KV\\Cache(RR\\RPC\\RPC::create('tcp://127.0.0.1:1'), 'x');
        try { $c->setMultiple([1 => 'a']); }
        catch (InvalidArgumentException $e) { echo 'invalid'; }""")
    assert out.stdout == "invalid"


def test_metrics_calls() -> None:
    def handler(call: Call) -> bytes:
        arg = json.loads(call.body)
        if call.method == "metrics.Declare" and arg["name"] == "dup":
            return reply(call, b"tried to register existing collector", error=True)
        if call.method == "metrics.Add" and arg["name"] == "nope":
            return reply(call, b"undefined collector nope, try first Declare the desired "
                               b"collector", error=True)
        return reply(call, b"true")

    with RPCStub(handler) as stub:
        out = run_php(f"""
            use RR\\Metrics\\{{Metrics, Collector}};
            $m = new Metrics(RR\\RPC\\RPC::create('{stub.address}'));
            $m->declare('app_hits', Collector::counter()->withHelp('Hits')->withLabels('page'));
            $m->declare('lat', Collector::summary(['0.5' => 0.05])->withNamespace('app'));
            $m->declare('dup', Collector::gauge());
            $m->add('app_hits', 1, ['home']);
            $m->sub('g', 2.5); $m->set('g', 3); $m->observe('h', 0.25, ['x']);
            $m->unregister('app_hits');
            try {{ $m->add('nope', 1); }}
            catch (RR\\Metrics\\MetricsException $e) {{ echo 'MetricsException'; }}""")
        assert out.stdout == "MetricsException"
        got = [(c.method, json.loads(c.body)) for c in stub.calls]
        assert all(c.flags == fr.CODEC_JSON for c in stub.calls)
        assert got == [
            ("metrics.Declare", {"name": "app_hits", "collector": {
                "namespace": "", "subsystem": "", "type": "counter", "help": "Hits",
                "labels": ["page"], "buckets": []}}),
            ("metrics.Declare", {"name": "lat", "collector": {
                "namespace": "app", "subsystem": "", "type": "summary", "help": "",
                "labels": [], "buckets": [], "objectives": {"0.5": 0.05}}}),
            ("metrics.Declare", {"name": "dup", "collector": {
                "namespace": "", "subsystem": "", "type": "gauge", "help": "", "labels": [],
                "buckets": []}}),
            ("metrics.Add", {"name": "app_hits", "value": 1.0, "labels": ["home"]}),
            ("metrics.Sub", {"name": "g", "value": 2.5, "labels": []}),
            ("metrics.Set", {"name": "g", "value": 3.0, "labels": []}),
            ("metrics.Observe", {"name": "h", "value": 0.25, "labels": ["x"]}),
            ("metrics.Unregister", "app_hits"),
            ("metrics.Add", {"name": "nope", "value": 1.0, "labels": []}),
        ]
