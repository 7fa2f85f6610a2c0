"""Shared test helpers: free ports, starting `rr serve` as a user would, RPC calls."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rr.goridge.rpc import RPCClient

ROOT = Path(__file__).resolve().parent.parent
PHP_DIR = ROOT / "php"
PHP_FIXTURES = ROOT / "tests" / "php"


_handed_out: set[int] = set()


def _claim_dir() -> Path | None:
    """Where the processes of one test run record the ports they handed out: the
    directory tests/conftest.py makes before pytest-xdist starts its workers (None outside
    a test run, e.g. in bench/: one process, the set above is enough)."""
    directory = os.environ.get("RR_TEST_PORTS_DIR")
    return Path(directory) if directory else None


def _claim(port: int) -> bool:
    """True when no other process of this run has handed ``port`` out (an O_EXCL file
    per port: atomic across processes)."""
    directory = _claim_dir()
    if directory is None:
        return True
    try:
        os.close(os.open(directory / str(port), os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True


def rr_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a `python -m rr` subprocess: the interpreter running the tests
    (sys.executable) and this checkout first on the path, so a test never runs another
    checkout's or a globally installed rr (the subprocess starts in a temporary
    directory, where only PYTHONPATH and site-packages decide what `rr` is)."""
    env = {**os.environ, **(extra or {})}
    path = env.get("PYTHONPATH", "")
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + path if path else "")
    return env


def service_env(port_variable: str, port: int) -> dict[str, str]:
    """The environment for scripts/services/*.sh: the broker's port, and the tests' own
    interpreter for the Python-based brokers (moto, the Tansu binary's package)."""
    return {**os.environ, port_variable: str(port), "RR_PYTHON": sys.executable}


def free_port() -> int:
    """A free loopback port, never one handed out before in this test run: the kernel may
    return the same ephemeral port to two consecutive binds once the first is closed (in
    this process or in another xdist worker), and a config with two listeners on one
    port fails to start."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in _handed_out and _claim(port):
            _handed_out.add(port)
            return port


def wait_for(pred: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05,
             what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    last_exc: Exception | None = None
    while time.monotonic() < deadline:
        try:
            v = pred()
            if v:
                return v
        except Exception as e:  # noqa: BLE001 - polling
            last_exc = e
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}" + (f": {last_exc}" if last_exc else ""))


class RRProcess:
    """`python -m rr serve -c <file>` in a subprocess, with its output captured."""

    def __init__(self, config: str, workdir: Path, args: list[str] | None = None,
                 env: dict[str, str] | None = None, config_name: str = ".rr.yaml") -> None:
        self.workdir = workdir
        self.config_path = workdir / config_name
        self.config_path.write_text(textwrap.dedent(config))
        self.args = args or []
        self.env = rr_env(env)
        self.env.setdefault("PYTHONUNBUFFERED", "1")
        self.proc: subprocess.Popen[bytes] | None = None
        self._out: list[str] = []
        self._lock = threading.Lock()

    # output ----------------------------------------------------------------------
    def _pump(self, stream: Any) -> None:
        for raw in iter(stream.readline, b""):
            with self._lock:
                self._out.append(raw.decode("utf-8", "replace"))

    @property
    def output(self) -> str:
        with self._lock:
            return "".join(self._out)

    def wait_output(self, text: str, timeout: float = 20.0) -> None:
        def found() -> bool:
            if text in self.output:
                return True
            if self.proc is not None and self.proc.poll() is not None and text not in self.output:
                raise RuntimeError(f"rr exited with {self.proc.returncode}:\n{self.output}")
            return False

        try:
            wait_for(found, timeout, what=repr(text))
        except TimeoutError:
            raise TimeoutError(f"{text!r} not seen; output so far:\n{self.output}") from None

    # lifecycle -------------------------------------------------------------------
    def start(self, wait: bool = True, timeout: float = 30.0) -> RRProcess:
        cmd = [sys.executable, "-m", "rr", "serve", "-c", str(self.config_path), *self.args]
        self.proc = subprocess.Popen(cmd, cwd=self.workdir, env=self.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        threading.Thread(target=self._pump, args=(self.proc.stdout,), daemon=True).start()
        if wait:
            self.wait_output("RoadRunner server started", timeout)
        return self

    def signal(self, sig: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 30.0) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout)

    def stop(self, timeout: float = 30.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise

    def kill(self) -> None:
        """SIGKILL rr and every worker (its whole session)."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def __enter__(self) -> RRProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        try:
            self.stop()
        finally:
            self.kill()


def rpc(address: str, method: str, arg: Any = True) -> Any:
    with RPCClient(address) as c:
        return c.call(method, arg)


def run_cli(*args: str, cwd: Path, timeout: float = 60.0, env: dict[str, str] | None = None,
            input: str | None = None) -> subprocess.CompletedProcess[str]:  # noqa: A002
    return subprocess.run([sys.executable, "-m", "rr", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env=rr_env(env), input=input)


def php_worker(name: str) -> str:
    """`php <fixture>` command string for server.command."""
    return f"php {PHP_FIXTURES / name}"
