#!/usr/bin/env python3
"""Berth's in-container agent.

`serve` (the container's main process) starts the IPython kernel at once and serves JSON-lines
requests on a unix socket inside the container. `relay` is what the manager runs through one
long-lived `docker exec`: it pipes its stdin/stdout to that socket, so the manager needs no TCP/IP
to reach the sandbox and several manager processes can each hold their own connection.

Wire format, one JSON object per line:
  request   {"id": str, "op": str, ...arguments}
  response  {"id": str, "ok": true, "result": {...}}
            {"id": str, "ok": false, "error": {"code": str, "message": str, "details": {...}}}
  event     {"id": str, "event": "output", "data": {"stream": "stdout"|"stderr", "text": str}}

Python executions share one kernel and run one at a time in arrival order. Everything else (files,
shell) runs concurrently. Only the standard library and jupyter_client are used.
"""

import base64
import collections
import hashlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time

PROTOCOL = 1
WORKSPACE = os.path.realpath(os.environ.get("BERTH_WORKSPACE", "/workspace"))
SOCKET_PATH = os.environ.get("BERTH_AGENT_SOCKET", "/tmp/.berth/agent.sock")
IDLE_EXIT_S = float(os.environ.get("BERTH_IDLE_EXIT_S", "0") or 0)
KERNEL_START_WAIT_S = 120
INTERRUPT_GRACE_S = float(os.environ.get("BERTH_INTERRUPT_GRACE_S", "3"))
ANSI_RE = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
RICH_MIME_TYPES = (
    "text/plain",
    "text/html",
    "text/markdown",
    "image/png",
    "image/jpeg",
    "image/svg+xml",
    "application/json",
)


class AgentError(Exception):
    def __init__(self, code, message, **details):
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


def prefer_oom_kill(pid="self"):
    # When the sandbox runs out of memory, the kernel or a command should die, not the agent (the
    # agent restarts the kernel and reports it; without the agent the session is gone).
    try:
        with open("/proc/%s/oom_score_adj" % pid, "w") as f:
            f.write("500")
    except OSError:
        pass


def log(*parts):
    print("[berth-agent]", *parts, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Bounded output: keeps the head and the tail, counts what was dropped in between.


class BoundedText:
    def __init__(self, limit_chars):
        self.limit = max(int(limit_chars), 64)
        self.head_limit = self.limit // 2
        self.head = []
        self.head_len = 0
        self.tail = collections.deque()
        self.tail_len = 0
        self.dropped = 0

    def add(self, text):
        if not text:
            return
        if self.head_len < self.head_limit:
            room = self.head_limit - self.head_len
            self.head.append(text[:room])
            self.head_len += min(room, len(text))
            text = text[room:]
            if not text:
                return
        self.tail.append(text)
        self.tail_len += len(text)
        tail_limit = self.limit - self.head_limit
        while self.tail_len > tail_limit:
            first = self.tail[0]
            excess = self.tail_len - tail_limit
            if len(first) <= excess:
                self.tail.popleft()
                self.tail_len -= len(first)
                self.dropped += len(first)
            else:
                self.tail[0] = first[excess:]
                self.tail_len -= excess
                self.dropped += excess

    @property
    def truncated(self):
        return self.dropped > 0

    def text(self):
        head = "".join(self.head)
        tail = "".join(self.tail)
        if self.dropped:
            marker = "\n[... %d characters truncated by berth ...]\n" % self.dropped
            return head + marker + tail
        return head + tail


def strip_ansi(text):
    return ANSI_RE.sub("", text)


# ---------------------------------------------------------------------------------------------
# Paths: the truth about the filesystem is here, after realpath.


def within_workspace(path):
    return path == WORKSPACE or path.startswith(WORKSPACE + os.sep)


def resolve(path):
    if not isinstance(path, str) or path == "":
        raise AgentError("invalid_path", "path must be a non-empty string")
    if "\x00" in path:
        raise AgentError("invalid_path", "path contains a NUL byte")
    joined = os.path.normpath(os.path.join(WORKSPACE, path))
    if not within_workspace(joined):
        raise AgentError(
            "invalid_path",
            "path %r is outside /workspace; use a path relative to /workspace" % path,
            path=path,
        )
    real = os.path.realpath(joined)
    if not within_workspace(real):
        raise AgentError(
            "invalid_path",
            "path %r resolves outside /workspace through a symlink" % path,
            path=path,
        )
    return real


def rel(real):
    if real == WORKSPACE:
        return "."
    return os.path.relpath(real, WORKSPACE)


def file_type(st_mode):
    import stat as st

    if st.S_ISREG(st_mode):
        return "file"
    if st.S_ISDIR(st_mode):
        return "directory"
    if st.S_ISLNK(st_mode):
        return "symlink"
    return "other"


def stat_entry(real, name=None):
    st = os.lstat(real)
    kind = file_type(st.st_mode)
    return {
        "name": name if name is not None else os.path.basename(real),
        "path": rel(real) if within_workspace(real) else real,
        "type": kind,
        "size": st.st_size,
        "mtime_ms": int(st.st_mtime * 1000),
    }


def op_stat(req):
    real = resolve(req.get("path"))
    try:
        entry = stat_entry(real)
    except FileNotFoundError:
        raise AgentError("file_not_found", "no such file or directory: %s" % req.get("path"), path=req.get("path"))
    if entry["type"] == "file" and req.get("sha256"):
        entry["sha256"] = sha256_file(real)
    return entry


def sha256_file(real):
    h = hashlib.sha256()
    with open(real, "rb") as f:
        while True:
            chunk = f.read(1 << 20)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def op_read(req):
    path = req.get("path")
    real = resolve(path)
    offset = int(req.get("offset") or 0)
    length = req.get("length")
    max_bytes = int(req.get("max_bytes") or (8 << 20))
    try:
        st = os.stat(real)
    except FileNotFoundError:
        raise AgentError("file_not_found", "no such file: %s" % path, path=path)
    if file_type(st.st_mode) == "directory":
        raise AgentError("is_a_directory", "%s is a directory, not a file; use list_files" % path, path=path)
    if file_type(st.st_mode) != "file":
        raise AgentError("invalid_path", "%s is not a regular file" % path, path=path)
    if offset < 0 or (length is not None and int(length) < 0):
        raise AgentError("invalid_argument", "offset and length must be >= 0")
    size = st.st_size
    want = (size - offset) if length is None else min(int(length), max(size - offset, 0))
    want = max(want, 0)
    if want > max_bytes:
        raise AgentError(
            "file_too_large",
            "%s is %d bytes; at most %d bytes can be returned in one call" % (path, size, max_bytes),
            path=path,
            size=size,
            limit=max_bytes,
        )
    with open(real, "rb") as f:
        f.seek(offset)
        data = f.read(want)
    return {
        "path": rel(real),
        "size": size,
        "offset": offset,
        "content_b64": base64.b64encode(data).decode("ascii"),
        "sha256": hashlib.sha256(data).hexdigest(),
        "mtime_ms": int(st.st_mtime * 1000),
    }


def op_write(req):
    path = req.get("path")
    real = resolve(path)
    if real == WORKSPACE:
        raise AgentError("invalid_path", "cannot write to the workspace root itself")
    mode = req.get("mode") or "w"
    if mode not in ("w", "a"):
        raise AgentError("invalid_argument", "mode must be 'w' (overwrite) or 'a' (append)")
    try:
        data = base64.b64decode(req.get("content_b64") or "", validate=True)
    except Exception:
        raise AgentError("invalid_argument", "content is not valid base64")
    if os.path.isdir(real):
        raise AgentError("is_a_directory", "%s is a directory; choose a file path" % path, path=path)
    parent = os.path.dirname(real)
    try:
        os.makedirs(parent, exist_ok=True)
    except FileExistsError:
        raise AgentError("not_a_directory", "a parent of %s is a file, not a directory" % path, path=path)
    except NotADirectoryError:
        raise AgentError("not_a_directory", "a parent of %s is a file, not a directory" % path, path=path)
    try:
        with open(real, "ab" if mode == "a" else "wb") as f:
            f.write(data)
    except NotADirectoryError:
        raise AgentError("not_a_directory", "a parent of %s is a file, not a directory" % path, path=path)
    st = os.stat(real)
    return {"path": rel(real), "size": st.st_size, "written": len(data), "mode": mode}


def op_list(req):
    path = req.get("path") or "."
    real = resolve(path)
    recursive = bool(req.get("recursive"))
    max_entries = int(req.get("max_entries") or 1000)
    include_hidden = bool(req.get("include_hidden", True))
    if not os.path.exists(real):
        raise AgentError("file_not_found", "no such directory: %s" % path, path=path)
    if not os.path.isdir(real):
        raise AgentError("not_a_directory", "%s is a file, not a directory; use read_file" % path, path=path)
    entries = []
    truncated = False
    stack = [real]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as it:
                items = sorted(it, key=lambda e: e.name)
        except (PermissionError, FileNotFoundError):
            continue
        for item in items:
            if not include_hidden and item.name.startswith("."):
                continue
            if len(entries) >= max_entries:
                truncated = True
                break
            try:
                entry = stat_entry(item.path, item.name)
            except FileNotFoundError:
                continue
            entry["path"] = rel(item.path)
            entries.append(entry)
            if recursive and entry["type"] == "directory":
                stack.append(item.path)
        if truncated:
            break
    entries.sort(key=lambda e: e["path"])
    return {"path": rel(real), "entries": entries, "truncated": truncated}


def leaf_of(path):
    """The path with its parent resolved (and checked) but its last component not followed."""
    if not isinstance(path, str) or not path or "\x00" in path:
        resolve(path)  # raises the matching error
    normal = os.path.normpath(path)
    return os.path.join(resolve(os.path.dirname(normal) or "."), os.path.basename(normal))


def op_rename(req):
    src = leaf_of(req.get("path"))
    dst = leaf_of(req.get("to"))
    if not os.path.lexists(src):
        raise AgentError("file_not_found", "no such file: %s" % req.get("path"), path=req.get("path"))
    if os.path.isdir(dst) and not os.path.islink(dst):
        raise AgentError("is_a_directory", "%s is a directory; choose a file path" % req.get("to"), path=req.get("to"))
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    os.replace(src, dst)
    st = os.stat(dst)
    return {"path": rel(dst), "size": st.st_size}


def op_delete(req):
    path = req.get("path")
    leaf = leaf_of(path)
    # Deleting a symlink removes the link itself, wherever it points.
    if os.path.islink(leaf) and within_workspace(leaf):
        os.unlink(leaf)
        return {"path": rel(leaf), "deleted": True, "type": "symlink"}
    real = resolve(path)
    if real == WORKSPACE:
        raise AgentError("invalid_path", "refusing to delete the workspace root")
    if not os.path.lexists(real):
        raise AgentError("file_not_found", "no such file or directory: %s" % path, path=path)
    if os.path.isdir(real):
        if not req.get("recursive"):
            if os.listdir(real):
                raise AgentError(
                    "is_a_directory",
                    "%s is a non-empty directory; pass recursive: true to delete it with its contents" % path,
                    path=path,
                )
            os.rmdir(real)
        else:
            shutil.rmtree(real)
        return {"path": rel(real), "deleted": True, "type": "directory"}
    os.unlink(real)
    return {"path": rel(real), "deleted": True, "type": "file"}


# ---------------------------------------------------------------------------------------------
# Shell commands: a process group per command, killed whole on timeout.


SHELLS = {}
SHELLS_LOCK = threading.Lock()


def cancel_shell(target_id):
    with SHELLS_LOCK:
        proc = SHELLS.get(target_id)
    if proc is None:
        return False
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def op_shell(req, emit):
    command = req.get("command")
    if not isinstance(command, str) or not command.strip():
        raise AgentError("invalid_argument", "command must be a non-empty string")
    if "\x00" in command:
        raise AgentError("invalid_argument", "command contains a NUL byte, which no shell can run")
    cwd = resolve(req.get("cwd") or ".")
    if not os.path.exists(cwd):
        raise AgentError("file_not_found", "cwd %s does not exist; create it first (mkdir -p)" % req.get("cwd"))
    if not os.path.isdir(cwd):
        raise AgentError("not_a_directory", "cwd %s is a file, not a directory" % req.get("cwd"))
    timeout_s = max(float(req.get("timeout_ms") or 60000) / 1000.0, 0.001)
    limit = int(req.get("max_output_chars") or 50000)
    env = dict(os.environ)
    env["MPLBACKEND"] = "Agg"
    env.pop("BERTH_AGENT_SOCKET", None)
    started = time.monotonic()
    proc = subprocess.Popen(
        ["/bin/bash", "-c", command],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    prefer_oom_kill(proc.pid)
    with SHELLS_LOCK:
        SHELLS[req.get("id")] = proc
    outs = {"stdout": BoundedText(limit // 2), "stderr": BoundedText(limit // 2)}

    def pump(stream, name):
        decoder = __import__("codecs").getincrementaldecoder("utf-8")("replace")
        while True:
            chunk = stream.read1(65536) if hasattr(stream, "read1") else stream.read(65536)
            if not chunk:
                break
            text = decoder.decode(chunk)
            outs[name].add(text)
            emit({"stream": name, "text": text[:4096]})
        outs[name].add(decoder.decode(b"", final=True))

    threads = [
        threading.Thread(target=pump, args=(proc.stdout, "stdout"), daemon=True),
        threading.Thread(target=pump, args=(proc.stderr, "stderr"), daemon=True),
    ]
    for t in threads:
        t.start()
    timed_out = False
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        timed_out = True
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    for t in threads:
        t.join(timeout=2)
    with SHELLS_LOCK:
        SHELLS.pop(req.get("id"), None)
    return {
        "exit_code": proc.returncode,
        "stdout": outs["stdout"].text(),
        "stderr": outs["stderr"].text(),
        "timed_out": timed_out,
        "truncated": outs["stdout"].truncated or outs["stderr"].truncated,
        "duration_ms": int((time.monotonic() - started) * 1000),
    }


# ---------------------------------------------------------------------------------------------
# The kernel: one per container, executions serialised FIFO by a single worker thread.


class Job:
    def __init__(self, req, reply, emit):
        self.req = req
        self.reply = reply
        self.emit = emit
        self.cancelled = threading.Event()


class Kernel:
    """One IPython kernel process, launched and watched directly.

    jupyter_client's KernelManager costs a few hundred milliseconds at start (kernelspec discovery
    and provisioning) that a sandbox's cold start would pay every time; the kernel here is simply
    `python3 -m ipykernel_launcher -f <connection file>`, interrupted with SIGINT and restarted by
    launching it again.
    """

    CONNECTION_FILE = os.path.join(os.path.dirname(SOCKET_PATH), "kernel-%d.json")

    def __init__(self):
        self.proc = None
        self.kc = None
        self.ready = threading.Event()
        self.start_error = None
        self.jobs = queue.Queue()
        self.current = None
        self.lock = threading.Lock()
        self.generation = 0
        self.pending = {}

    def env(self):
        env = dict(os.environ)
        # ipykernel's inline backend turns shown figures into image/png display data; a global
        # MPLBACKEND=Agg would silence them.
        env.pop("MPLBACKEND", None)
        env.pop("BERTH_AGENT_SOCKET", None)
        env.pop("BERTH_IDLE_EXIT_S", None)
        # As jupyter_client does: the kernel watches its parent and ends if the agent goes away.
        env["JPY_PARENT_PID"] = str(os.getpid())
        # The kernel-site directory hides debugpy, whose import slows every kernel start and whose
        # debugger nobody can reach in a sandbox.
        kernel_site = "/opt/berth/kernel-site"
        if os.path.isdir(kernel_site):
            env["PYTHONPATH"] = kernel_site + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        return env

    def launch(self):
        from jupyter_client.blocking import BlockingKernelClient
        from jupyter_client.connect import write_connection_file

        self.generation += 1
        path = self.CONNECTION_FILE % self.generation
        write_connection_file(fname=path, ip="127.0.0.1", transport="tcp", key=os.urandom(32).hex().encode())
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ipykernel_launcher", "-f", path],
            cwd=WORKSPACE,
            env=self.env(),
            stdin=subprocess.DEVNULL,
        )
        prefer_oom_kill(self.proc.pid)
        kc = BlockingKernelClient(connection_file=path)
        kc.load_connection_file()
        kc.start_channels()
        kc.wait_for_ready(timeout=120)
        self.kc = kc

    def start(self):
        try:
            self.launch()
            self.ready.set()
            log("kernel ready")
        except Exception as exc:  # reported to every caller; the container stays up for files
            self.start_error = "%s: %s" % (type(exc).__name__, exc)
            log("kernel failed to start:", self.start_error)
            self.ready.set()

    def is_alive(self):
        return self.proc is not None and self.proc.poll() is None

    def interrupt(self):
        if self.is_alive():
            try:
                os.kill(self.proc.pid, signal.SIGINT)
            except ProcessLookupError:
                pass

    def shutdown(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()

    def restart(self, reason):
        log("restarting kernel:", reason)
        self.ready.clear()
        try:
            try:
                if self.kc is not None:
                    self.kc.stop_channels()
            except Exception:
                pass
            if self.proc is not None:
                self.proc.kill()
                self.proc.wait(timeout=10)
            self.launch()
            self.start_error = None
        except Exception as exc:
            self.start_error = "%s: %s" % (type(exc).__name__, exc)
        finally:
            self.ready.set()

    def submit(self, job):
        with self.lock:
            self.pending[job.req.get("id")] = job
        self.jobs.put(job)

    def cancel(self, target_id):
        with self.lock:
            job = self.pending.get(target_id)
        if job is None:
            return False
        job.cancelled.set()
        if self.current is job:
            self.interrupt()
        return True

    def worker(self):
        while True:
            job = self.jobs.get()
            self.current = job
            try:
                if job.cancelled.is_set():
                    job.reply(error=("cancelled", "execution was cancelled before it started", {}))
                else:
                    job.reply(result=self.execute(job))
            except AgentError as exc:
                job.reply(error=(exc.code, exc.message, exc.details))
            except Exception as exc:
                log("execute failed:", repr(exc))
                job.reply(error=("internal", "%s: %s" % (type(exc).__name__, exc), {}))
            finally:
                self.current = None
                Activity.touch()
                with self.lock:
                    self.pending.pop(job.req.get("id"), None)

    def execute(self, job):
        req = job.req
        code = req.get("code")
        if not isinstance(code, str):
            raise AgentError("invalid_argument", "code must be a string")
        timeout_s = max(float(req.get("timeout_ms") or 60000) / 1000.0, 0.001)
        limit = int(req.get("max_output_chars") or 50000)
        max_rich = int(req.get("max_rich_bytes") or (4 << 20))
        # The deadline covers the execution, not the kernel's start (a cold sandbox's first call).
        if not self.ready.wait(timeout=KERNEL_START_WAIT_S):
            raise AgentError("timeout", "the Python kernel did not start within %ds" % KERNEL_START_WAIT_S)
        started = time.monotonic()
        deadline = started + timeout_s
        if self.start_error:
            raise AgentError("kernel_unavailable", "the Python kernel could not start: " + self.start_error)
        kc = self.kc
        output = BoundedText(limit)
        results = []
        rich_bytes = 0
        rich_dropped = 0
        error = None
        execution_count = None
        timed_out = False
        interrupted_at = None
        kernel_restarted = False
        cancelled = False
        msg_id = kc.execute(code, store_history=True, allow_stdin=False, stop_on_error=False)
        idle = False
        while not idle:
            now = time.monotonic()
            if job.cancelled.is_set() and interrupted_at is None:
                cancelled = True
                interrupted_at = now
            if now >= deadline and interrupted_at is None:
                timed_out = True
                interrupted_at = now
                self.interrupt()
            if interrupted_at is not None and now - interrupted_at > INTERRUPT_GRACE_S:
                self.restart("execution did not stop after an interrupt")
                kernel_restarted = True
                break
            try:
                msg = kc.get_iopub_msg(timeout=0.1)
            except queue.Empty:
                if not self.is_alive():
                    self.restart("kernel died")
                    kernel_restarted = True
                    if error is None:
                        error = {
                            "ename": "KernelDied",
                            "evalue": "the Python kernel died (crash, os._exit or out of memory)",
                            "traceback": "KernelDied: the Python kernel died while running this code "
                            "(a crash, os._exit() or running out of memory); it was restarted and "
                            "all variables are lost",
                        }
                    break
                continue
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind = msg.get("msg_type")
            content = msg.get("content", {})
            if kind == "stream":
                text = content.get("text", "")
                output.add(text)
                job.emit({"stream": content.get("name", "stdout"), "text": text[:4096]})
            elif kind in ("execute_result", "display_data"):
                data = content.get("data", {})
                kept = {}
                for mime in RICH_MIME_TYPES:
                    if mime not in data:
                        continue
                    value = data[mime]
                    if not isinstance(value, str):
                        value = json.dumps(value)
                    if mime != "text/plain" and rich_bytes + len(value) > max_rich:
                        rich_dropped += 1
                        continue
                    rich_bytes += len(value)
                    kept[mime] = value
                if kind == "execute_result":
                    execution_count = content.get("execution_count")
                    if "text/plain" in data:
                        output.add(str(data["text/plain"]) + "\n")
                if kept:
                    results.append({"type": kind, "data": kept})
            elif kind == "error":
                error = {
                    "ename": content.get("ename", ""),
                    "evalue": content.get("evalue", ""),
                    "traceback": strip_ansi("\n".join(content.get("traceback", []))),
                }
            elif kind == "status" and content.get("execution_state") == "idle":
                idle = True
        if not kernel_restarted:
            # The shell reply carries the execution count; earlier replies (of interrupted runs)
            # may still be queued, so match on the id.
            reply_deadline = time.monotonic() + 2
            while time.monotonic() < reply_deadline:
                try:
                    reply = kc.get_shell_msg(timeout=0.5)
                except queue.Empty:
                    continue
                if reply.get("parent_header", {}).get("msg_id") == msg_id:
                    execution_count = reply.get("content", {}).get("execution_count", execution_count)
                    break
        if timed_out:
            note = "execution timed out after %gs" % timeout_s
            if kernel_restarted:
                note += "; the kernel did not respond to an interrupt and was restarted (variables are lost)"
            else:
                note += " and was interrupted; variables defined before are kept"
            tb = (error or {}).get("traceback", "")
            error = {"ename": "TimeoutError", "evalue": note, "traceback": (tb + "\n" if tb else "") + "TimeoutError: " + note}
        elif cancelled:
            error = {"ename": "Cancelled", "evalue": "execution was cancelled", "traceback": "Cancelled: execution was cancelled by the client"}
        elif kernel_restarted and error is None:
            error = {"ename": "KernelRestarted", "evalue": "the kernel was restarted", "traceback": "KernelRestarted: the kernel was restarted; variables are lost"}
        return {
            "success": error is None,
            "output": output.text(),
            "error": error["traceback"] if error else None,
            "error_name": error["ename"] if error else None,
            "error_value": error["evalue"] if error else None,
            "results": results,
            "execution_count": execution_count,
            "duration_ms": int((time.monotonic() - started) * 1000),
            "truncated": output.truncated,
            "rich_dropped": rich_dropped,
            "timed_out": timed_out,
            "cancelled": cancelled,
            "kernel_restarted": kernel_restarted,
        }


KERNEL = Kernel()


# ---------------------------------------------------------------------------------------------
# The socket server.


class Activity:
    """Connections and the time of the last request, for the idle watchdog."""

    lock = threading.Lock()
    connections = 0
    last = time.monotonic()

    @classmethod
    def touch(cls):
        cls.last = time.monotonic()

    @classmethod
    def change(cls, delta):
        with cls.lock:
            cls.connections += delta
            cls.last = time.monotonic()


def idle_watchdog():
    # With no Berth process attached, nobody else would ever stop this container: end it after the
    # idle timeout (the container is auto-removed, the workspace volume stays).
    while True:
        time.sleep(min(5.0, max(IDLE_EXIT_S / 4, 0.5)))
        busy = KERNEL.current is not None or not KERNEL.jobs.empty()
        if Activity.connections == 0 and not busy and time.monotonic() - Activity.last > IDLE_EXIT_S:
            log("idle for %gs with no connection; exiting" % IDLE_EXIT_S)
            try:
                KERNEL.shutdown()
            finally:
                os._exit(0)


class Connection(socketserver.StreamRequestHandler):
    def setup(self):
        super().setup()
        self.write_lock = threading.Lock()
        Activity.change(+1)

    def finish(self):
        Activity.change(-1)
        try:
            super().finish()
        except OSError:
            pass

    def send(self, obj):
        line = (json.dumps(obj, separators=(",", ":")) + "\n").encode("utf-8")
        with self.write_lock:
            try:
                self.wfile.write(line)
                self.wfile.flush()
            except (BrokenPipeError, ConnectionResetError, ValueError):
                pass

    def handle(self):
        while True:
            try:
                line = self.rfile.readline()
            except (ConnectionResetError, OSError):
                break
            if not line:
                break
            line = line.strip()
            if not line:
                continue
            try:
                req = json.loads(line)
                if not isinstance(req, dict):
                    raise ValueError("request must be an object")
            except ValueError as exc:
                self.send({"id": None, "ok": False, "error": {"code": "invalid_argument", "message": "bad request: %s" % exc, "details": {}}})
                continue
            Activity.touch()
            self.dispatch(req)

    def dispatch(self, req):
        rid = req.get("id")
        op = req.get("op")

        def reply(result=None, error=None):
            if error is not None:
                code, message, details = error
                self.send({"id": rid, "ok": False, "error": {"code": code, "message": message, "details": details}})
            else:
                self.send({"id": rid, "ok": True, "result": result})

        def emit(data):
            if req.get("stream"):
                self.send({"id": rid, "event": "output", "data": data})

        if op == "exec":
            KERNEL.submit(Job(req, reply, emit))
            return
        handlers = {
            "hello": lambda: {
                "protocol": PROTOCOL,
                "kernel_ready": KERNEL.ready.is_set() and not KERNEL.start_error,
                "kernel_error": KERNEL.start_error,
                "python": sys.version.split()[0],
                "pid": os.getpid(),
                "uid": os.getuid(),
            },
            "cancel": lambda: {"cancelled": KERNEL.cancel(req.get("target")) or cancel_shell(req.get("target"))},
            "interrupt": self.interrupt,
            "restart": lambda: (KERNEL.restart("requested"), {"restarted": True})[1],
            "read": lambda: op_read(req),
            "write": lambda: op_write(req),
            "list": lambda: op_list(req),
            "stat": lambda: op_stat(req),
            "delete": lambda: op_delete(req),
            "rename": lambda: op_rename(req),
            "shell": lambda: op_shell(req, emit),
        }
        handler = handlers.get(op)
        if handler is None:
            reply(error=("invalid_argument", "unknown op %r" % op, {}))
            return

        def run():
            try:
                reply(result=handler())
            except AgentError as exc:
                reply(error=(exc.code, exc.message, exc.details))
            except PermissionError as exc:
                reply(error=("permission_denied", "permission denied: %s" % exc.filename, {}))
            except OSError as exc:
                reply(error=("io_error", "%s: %s" % (type(exc).__name__, exc), {}))
            except Exception as exc:
                log("op failed:", op, repr(exc))
                reply(error=("internal", "%s: %s" % (type(exc).__name__, exc), {}))

        if op in ("hello", "cancel", "interrupt"):
            run()
        else:
            threading.Thread(target=run, daemon=True).start()

    @staticmethod
    def interrupt():
        KERNEL.interrupt()
        return {"interrupted": True}


class Server(socketserver.ThreadingUnixStreamServer):
    daemon_threads = True


def prepare_home():
    # HOME is a tmpfs: give matplotlib the font cache built into the image, and make the user site
    # directory exist so that what `pip install` puts there is importable without a restart.
    mpl_dir = os.environ.get("MPLCONFIGDIR")
    if mpl_dir:
        try:
            os.makedirs(mpl_dir, exist_ok=True)
            for name in os.listdir("/opt/berth/matplotlib"):
                if name.endswith(".json"):
                    shutil.copy(os.path.join("/opt/berth/matplotlib", name), mpl_dir)
        except OSError as exc:
            log("matplotlib cache not copied:", exc)
    try:
        import site

        user_site = site.getusersitepackages()
        if user_site and within_workspace(os.path.realpath(os.path.dirname(os.path.dirname(os.path.dirname(user_site))))):
            os.makedirs(user_site, exist_ok=True)
    except Exception as exc:
        log("user site not prepared:", exc)


def serve():
    os.makedirs(os.path.dirname(SOCKET_PATH), exist_ok=True)
    try:
        os.unlink(SOCKET_PATH)
    except FileNotFoundError:
        pass
    prepare_home()
    threading.Thread(target=KERNEL.start, daemon=True).start()
    threading.Thread(target=KERNEL.worker, daemon=True).start()
    if IDLE_EXIT_S > 0:
        threading.Thread(target=idle_watchdog, daemon=True).start()
    server = Server(SOCKET_PATH, Connection)
    os.chmod(SOCKET_PATH, 0o600)

    def shutdown(signum, frame):
        log("shutting down")
        try:
            KERNEL.shutdown()
        finally:
            os._exit(0)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    log("listening on", SOCKET_PATH)
    server.serve_forever()


def relay():
    deadline = time.monotonic() + float(os.environ.get("BERTH_RELAY_WAIT_S", "60"))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    while True:
        try:
            sock.connect(SOCKET_PATH)
            break
        except (FileNotFoundError, ConnectionRefusedError):
            if time.monotonic() > deadline:
                log("agent socket did not appear at", SOCKET_PATH)
                sys.exit(3)
            time.sleep(0.01)

    def upstream():
        try:
            while True:
                chunk = os.read(0, 1 << 16)
                if not chunk:
                    break
                sock.sendall(chunk)
        except OSError:
            pass
        try:
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    threading.Thread(target=upstream, daemon=True).start()
    try:
        while True:
            chunk = sock.recv(1 << 16)
            if not chunk:
                break
            view = memoryview(chunk)
            while view:
                written = os.write(1, view)
                view = view[written:]
    except OSError:
        pass
    os._exit(0)


def main():
    mode = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if mode == "serve":
        serve()
    elif mode == "relay":
        relay()
    else:
        print("usage: berth_agent.py serve|relay", file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
