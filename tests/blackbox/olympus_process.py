"""Starts the real `olympus` binary on free loopback ports and collects its JSON log lines."""

import json
import os
import signal
import subprocess
import tempfile
import threading
import time


class OlympusProcess:
    def __init__(self, *args, env=None, ready_timeout=30.0):
        self.binary = os.environ["OLYMPUS_BIN"]
        self.data_dir = tempfile.mkdtemp(prefix="olympus-test-")
        self.lines = []
        self._lock = threading.Lock()
        command = [self.binary, "serve", *args, "--port", "0", "--admin-port", "0",
                   "--data-dir", self.data_dir, "--threads", "2"]
        environment = {k: v for k, v in os.environ.items() if not k.startswith("OLYMPUS_")}
        environment.update(env or {})
        self.proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                     env=environment, text=True, bufsize=1)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        listening = self.wait_for(lambda line: line.get("message") == "listening", ready_timeout)
        if listening is None:
            self.stop()
            raise RuntimeError("olympus did not start:\n" + "\n".join(self.raw_lines()))
        self.port = listening["server.port"]
        self.admin_port = listening["labels.admin_port"]
        self.ca_file = os.path.join(self.data_dir, "tls", "dev-ca.pem")

    def _read(self):
        for raw in self.proc.stdout:
            with self._lock:
                self.lines.append(raw.rstrip("\n"))

    def raw_lines(self):
        with self._lock:
            return list(self.lines)

    def json_lines(self):
        """Every stdout line parsed as JSON; a line that is not JSON fails the caller's test."""
        return [json.loads(line) for line in self.raw_lines() if line.strip()]

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        seen = 0
        while time.monotonic() < deadline:
            lines = self.raw_lines()
            for raw in lines[seen:]:
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if predicate(line):
                    return line
            seen = len(lines)
            if self.proc.poll() is not None and seen == len(self.raw_lines()):
                return None
            time.sleep(0.02)
        return None

    def terminate(self, timeout=15.0):
        """SIGTERM and wait; returns the exit code."""
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._reader.join(timeout=5)
        self.proc.stdout.close()
