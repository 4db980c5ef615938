"""A real `clearline serve` process on a loopback port, for the service tests."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tests.conftest import ROOT

_BANNER = re.compile(r"on http://127\.0\.0\.1:(\d+) ")


class ServiceProcess:
    """`clearline serve --port 0` started in a subprocess; the port is read from its banner."""

    def __init__(self, policies: Path, audit: Path, *args: str) -> None:
        self.audit = audit
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "clearline",
                "serve",
                "--policies",
                str(policies),
                "--audit",
                str(audit),
                "--port",
                "0",
                *args,
            ],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        assert self.proc.stderr is not None
        self.banner = self.proc.stderr.readline()
        found = _BANNER.search(self.banner)
        if found is None:
            self.proc.kill()
            raise AssertionError(f"no banner: {self.banner}{self.proc.stderr.read()}")
        self.url = f"http://127.0.0.1:{found.group(1)}"
        self.client = httpx.Client(base_url=self.url, timeout=30)
        self._wait_ready()

    def _wait_ready(self) -> None:
        # The socket is bound before the banner, so a connection waits in the backlog until
        # uvicorn accepts it: one request is enough.
        deadline = time.monotonic() + 30
        while True:
            try:
                self.client.get("/healthz")
                return
            except httpx.TransportError:
                if time.monotonic() > deadline or self.proc.poll() is not None:
                    raise
                time.sleep(0.05)

    def post(self, path: str, body: Any, **kwargs: Any) -> httpx.Response:
        """POST JSON."""
        return self.client.post(path, json=body, **kwargs)

    def stop(self, sig: int = signal.SIGTERM) -> tuple[int, str]:
        """Send `sig`, wait for the exit; the exit code and what the process wrote to stderr."""
        self.client.close()
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            _, err = self.proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return self.proc.returncode, err
