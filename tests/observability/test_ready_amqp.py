"""/ready of the jobs plugin follows the RabbitMQ connection: cut the broker connection
(a TCP proxy in front of RabbitMQ) and /ready goes 503; restore it and it goes 200.
RoadRunner keeps answering 200 while its AMQP driver is disconnected."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.drivers.proxy import TCPProxy
from tests.helpers import RRProcess, free_port, php_worker, rpc, wait_for
from tests.observability.test_serve_e2e import fetch

pytestmark = [pytest.mark.php, pytest.mark.broker("amqp")]


@pytest.fixture
def proxy() -> Iterator[TCPProxy]:
    with TCPProxy("127.0.0.1", 5672) as p:
        yield p


def test_ready_follows_the_broker_connection(tmp_path: Path, proxy: TCPProxy) -> None:
    rpc_port, status_port = free_port(), free_port()
    name = f"obs-{uuid.uuid4().hex[:8]}"
    rr = RRProcess(f"""
        version: "3"
        rpc:
          listen: tcp://127.0.0.1:{rpc_port}
        server:
          command: "{php_worker('obs_app.php')}"
        amqp:
          addr: amqp://guest:guest@{proxy.address}/
        jobs:
          pool:
            num_workers: 1
          pipelines:
            {name}:
              driver: amqp
              config:
                queue: {name}
                routing_key: {name}
                exclusive: false
                durable: false
                delete_queue_on_stop: true
          consume: ["{name}"]
        status:
          address: 127.0.0.1:{status_port}
        """, tmp_path)
    url = f"http://127.0.0.1:{status_port}/ready?plugin=jobs"
    with rr:
        wait_for(lambda: fetch(url)[0] == 200, 30, what="jobs ready")
        proxy.cut()
        wait_for(lambda: fetch(url)[0] == 503, 30, what="jobs not ready while cut")
        status, body = fetch(url)
        assert json.loads(body) == [{"plugin_name": "jobs",
                                     "error_message": "internal server error, see logs",
                                     "status_code": 503}]
        assert rpc(f"tcp://127.0.0.1:{rpc_port}", "status.Ready",
                   {"plugin": "jobs"}) == {"code": 503}
        proxy.restore()
        wait_for(lambda: fetch(url)[0] == 200, 60, what="jobs ready again")
