#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""The floor: start QEMU by hand with -S and a QMP socket, connect, negotiate
(qmp_capabilities), `cont`, and time spawn -> `cont` reply and RESUME event.

Library use: BareQemu(argv, qmp_socket_path, output_file).start() -> timings.
Command line (QEMU's argv after --; it must hold -S and a QMP server socket):
  python3 bench/bare_qemu.py --qmp /tmp/q/qmp.sock --runs 3 -- \
      qemu-system-x86_64 -S -chardev socket,id=qmp,path=/tmp/q/qmp.sock,server=on,wait=off \
      -mon chardev=qmp,mode=control -nodefaults -display none -machine q35,accel=tcg ...
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import time


class QmpError(Exception):
    pass


class Qmp:
    """Minimal synchronous QMP client over a unix socket."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""
        self.events = []  # (monotonic time, event dict)

    def _read_msg(self, deadline):
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise QmpError("QMP timed out")
            self.sock.settimeout(left)
            chunk = self.sock.recv(65536)
            if not chunk:
                raise QmpError("QMP connection closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def greeting(self, timeout=30):
        msg = self._read_msg(time.monotonic() + timeout)
        if "QMP" not in msg:
            raise QmpError(f"unexpected QMP greeting {msg}")
        return msg

    def execute(self, cmd, args=None, timeout=30):
        """Sends CMD; returns (reply, monotonic time the reply arrived)."""
        req = {"execute": cmd, "id": cmd}
        if args:
            req["arguments"] = args
        self.sock.sendall(json.dumps(req).encode() + b"\n")
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_msg(deadline)
            now = time.monotonic()
            if "event" in msg:
                self.events.append((now, msg))
                continue
            if msg.get("id") != cmd:
                continue
            if "error" in msg:
                raise QmpError(f"{cmd}: {msg['error']}")
            return msg.get("return"), now

    def wait_event(self, name, timeout=30):
        for t, ev in self.events:
            if ev["event"] == name:
                return t
        deadline = time.monotonic() + timeout
        while True:
            msg = self._read_msg(deadline)
            now = time.monotonic()
            if "event" in msg:
                self.events.append((now, msg))
                if msg["event"] == name:
                    return now


class BareQemu:
    def __init__(self, argv, qmp_path, out_path):
        self.argv = list(argv)
        self.qmp_path = qmp_path
        self.out_path = out_path
        self.proc = None
        self.qmp = None
        self.sock = None

    def start(self, timeout=30):
        """Spawns QEMU and resumes it; returns timings in seconds from the spawn."""
        out = open(self.out_path, "ab")
        t0 = time.monotonic()
        self.proc = subprocess.Popen(self.argv, stdout=out, stderr=out, stdin=subprocess.DEVNULL,
                                     start_new_session=True)
        out.close()
        deadline = t0 + timeout
        while True:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                s.connect(self.qmp_path)
                break
            except (FileNotFoundError, ConnectionRefusedError):
                s.close()
                if self.proc.poll() is not None:
                    raise QmpError(f"QEMU exited with {self.proc.returncode}; see {self.out_path}")
                if time.monotonic() > deadline:
                    raise QmpError("QEMU did not open its QMP socket in time")
                time.sleep(0.001)
        t_connect = time.monotonic()
        self.sock = s
        self.qmp = Qmp(s)
        self.qmp.greeting()
        _, t_caps = self.qmp.execute("qmp_capabilities")
        _, t_cont = self.qmp.execute("cont")
        t_resume = self.qmp.wait_event("RESUME", timeout=10)
        return {"connect_s": t_connect - t0, "caps_s": t_caps - t0, "cont_reply_s": t_cont - t0,
                "resume_event_s": t_resume - t0,
                "running_s": max(t_cont, t_resume) - t0}

    def stop(self, timeout=20):
        if self.proc is None:
            return
        try:
            if self.qmp:
                self.qmp.execute("quit", timeout=5)
        except (QmpError, OSError):
            pass
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        if self.sock:
            self.sock.close()
        self.proc = self.qmp = self.sock = None


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--qmp", required=True, help="QMP socket path used in QEMU's argv")
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--out", default="/dev/null", help="file for QEMU's stdout/stderr")
    ap.add_argument("argv", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    argv = a.argv[1:] if a.argv and a.argv[0] == "--" else a.argv
    if not argv:
        ap.error("give QEMU's command line after --")
    for i in range(a.runs):
        try:
            os.unlink(a.qmp)
        except FileNotFoundError:
            pass
        q = BareQemu(argv, a.qmp, a.out)
        try:
            r = q.start()
        finally:
            q.stop()
        print(json.dumps({"run": i + 1, **{k: round(v * 1000, 2) for k, v in r.items()}},
                         sort_keys=True).replace("_s\"", "_ms\""), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
