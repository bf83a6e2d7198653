#!/usr/bin/env python3
"""An external worker for task-schedule in Python, standard library only.

It long-polls POST /worker/poll for WORKER tasks of some queues, renews each task's lease (POST
/worker/heartbeat) at a third of it while `handle` runs, and reports the result: POST /worker/complete
with what `handle` returns, or POST /worker/fail with what it raises. A 409 means the task is not this
worker's any more (its lease ran out, it was cancelled or timed out): it stops reporting on it.

    python3 examples/python/worker.py --url http://localhost:8080 --queue resize [--token SECRET]

Write your own work in `handle` (it gets the task: tiId, queue, taskName, fiId, nodeKey, attempt,
input, content).
"""
import argparse
import json
import os
import socket
import sys
import threading
import time
import urllib.error
import urllib.request


class Conflict(Exception):
    """409: the lease is not ours any more."""


def handle(task):
    """The work. Its return value (any JSON) is the task's output; raise to fail the attempt."""
    data = task["input"] or {}
    if isinstance(data, dict) and data.get("fail"):
        raise RuntimeError("asked to fail: %s" % data["fail"])
    return {"python": True, "input": data, "content": task["content"], "attempt": task["attempt"]}


class Client:
    def __init__(self, url, token=None):
        self.url = url.rstrip("/")
        self.token = token

    def post(self, path, body, timeout=30.0, attempts=6):
        """POST in the envelope; retried with back-off on 503 and network errors; data, or raises."""
        for attempt in range(1, attempts + 1):
            req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST")
            req.add_header("content-type", "application/json")
            if self.token:
                req.add_header("authorization", "Bearer " + self.token)
            try:
                with urllib.request.urlopen(req, timeout=timeout) as res:
                    return json.loads(res.read())["data"]
            except urllib.error.HTTPError as e:
                message = e.read().decode(errors="replace")
                if e.code == 409:
                    raise Conflict(message)
                if e.code not in (502, 503, 504) or attempt == attempts:
                    raise RuntimeError("%s: %s %s" % (path, e.code, message))
            except (urllib.error.URLError, OSError) as e:
                if attempt == attempts:
                    raise RuntimeError("%s: %s" % (path, e))
            time.sleep(min(5.0, 0.2 * 2 ** attempt))


def run_task(client, task):
    lease = {"tiId": task["tiId"], "leaseToken": task["leaseToken"]}
    lost = threading.Event()
    done = threading.Event()

    def beat():
        while not done.wait(task["leaseMs"] / 3000.0):
            try:
                client.post("/worker/heartbeat", lease, timeout=task["leaseMs"] / 3000.0)
            except Conflict:
                lost.set()
                return
            except Exception as e:  # the next beat tries again
                print("heartbeat failed: %s" % e, file=sys.stderr)

    threading.Thread(target=beat, daemon=True).start()
    try:
        output = handle(task)
        result = ("/worker/complete", dict(lease, output=output))
    except Exception as e:
        result = ("/worker/fail", dict(lease, error=str(e), retryable=True))
    finally:
        done.set()
    if lost.is_set():
        print("task %s is no longer ours; nothing reported" % task["tiId"], file=sys.stderr)
        return
    try:
        client.post(*result)
        print(json.dumps({"event": "reported", "tiId": task["tiId"], "path": result[0]}), flush=True)
    except Conflict as e:
        print("task %s moved on: %s" % (task["tiId"], e), file=sys.stderr)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--url", default=os.environ.get("TASK_SCHEDULE_URL", "http://localhost:8080"))
    p.add_argument("--token", default=os.environ.get("TASK_SCHEDULE_TOKEN"))
    p.add_argument("--queue", action="append", required=True, help="a queue to take tasks of (repeat for more)")
    p.add_argument("--worker-id", default="%s-%d-py" % (socket.gethostname(), os.getpid()))
    p.add_argument("--wait-ms", type=int, default=20000)
    p.add_argument("--max-tasks", type=int, default=0, help="exit after this many tasks (0: run until killed)")
    args = p.parse_args()
    client = Client(args.url, args.token)
    print(json.dumps({"event": "ready", "workerId": args.worker_id}), flush=True)
    handled = 0
    while not args.max_tasks or handled < args.max_tasks:
        try:
            tasks = client.post("/worker/poll", {"queues": args.queue, "workerId": args.worker_id, "max": 1, "waitMs": args.wait_ms},
                                timeout=args.wait_ms / 1000.0 + 15)
        except Exception as e:
            print("poll failed: %s" % e, file=sys.stderr)
            time.sleep(1)
            continue
        for task in tasks:
            run_task(client, task)
            handled += 1


if __name__ == "__main__":
    main()
