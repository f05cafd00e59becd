"""A client for solo's client socket (solo-client(7)): push jobs, call a job and get its
result, wait for a group, read queue counts. One file, the standard library only: copy it
into your application.

    from solo_client import SoloClient, SoloError
    solo = SoloClient("/run/solo/client.sock")
    ids = solo.push(["mail 1", "mail 2"], queue="mail", group="batch-7")
    print(solo.call('{"resize": 42}', queue="images", timeout=10))   # the worker's result
    for job in solo.wait_group("batch-7")["jobs"]: print(job["id"], job["state"])

Every method raises SoloError when solo refuses or the job failed (`error.reply` holds the
answer: `state` "dead" for a failed job, `timeout` true when the wait ran out; the job stays
queued). A connection serves one request at a time; open one per thread. solo closes a
connection quiet for 10 minutes: one quiet for 5 is replaced before the next request.
"""
import json
import socket
import time


class SoloError(Exception):
    def __init__(self, message, reply=None):
        super().__init__(message)
        self.reply = reply or {}

    @property
    def timed_out(self):
        return bool(self.reply.get("timeout"))


class SoloClient:
    # Half of the 10 minutes after which solo closes a quiet connection.
    IDLE_LIMIT = 300.0

    def __init__(self, path="/run/solo/client.sock", connect_timeout=5.0):
        self.path = path
        self.connect_timeout = connect_timeout
        self._socket = None
        self._pending = b""
        self._used = 0.0

    def push(self, payloads, queue=None, **options):
        """Queues one payload (a string) or several (a list); returns the job ids, in order.
        Options: priority, delay (seconds or "5m"), max_attempts, group, key, unique,
        unique_payload, unique_for."""
        request = {"command": "push", "queue": queue, **options}
        if isinstance(payloads, str):
            request["payload"] = payloads
        else:
            request["payloads"] = list(payloads)
        return self.request(request)["jobs"]

    def call(self, payload, queue=None, timeout=30, **options):
        """Queues one job and returns the worker's result once it is done."""
        return self.request({"command": "call", "payload": payload, "queue": queue, "timeout": timeout, **options},
                            wait=timeout)["result"]

    def wait_group(self, group, queue=None, timeout=30):
        """Waits until every job of the group is done or dead; returns {"done", "dead", "jobs"}
        with each job's id, state and result (or error)."""
        return self.request({"command": "wait", "group": group, "queue": queue, "timeout": timeout}, wait=timeout)

    def counts(self, queue=None):
        """The counts of the queue (of every queue without one): ready, delayed, reserved, dead."""
        return self.request({"command": "counts", "queue": queue})["queues"]

    def request(self, request, wait=0):
        """Sends one request (a dict) and returns the answer; raises SoloError on a refusal."""
        request = {key: value for key, value in request.items() if value is not None}
        sock = self._connection()
        sock.settimeout(self.connect_timeout + wait)
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            while b"\n" not in self._pending:
                chunk = sock.recv(65536)
                if not chunk:
                    raise SoloError("solo closed the connection")
                self._pending += chunk
        except (OSError, SoloError):
            self.close()
            raise
        self._used = time.monotonic()
        line, self._pending = self._pending.split(b"\n", 1)
        reply = json.loads(line)
        if not reply.get("ok"):
            raise SoloError(reply.get("error", "solo refused the request"), reply)
        return reply

    def close(self):
        if self._socket is not None:
            self._socket.close()
        self._socket = None
        self._pending = b""

    def _connection(self):
        if self._socket is not None and time.monotonic() - self._used > self.IDLE_LIMIT:
            self.close()
        if self._socket is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.connect_timeout)
            sock.connect(self.path)
            self._socket = sock
        return self._socket

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
