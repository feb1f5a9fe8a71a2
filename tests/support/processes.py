"""Start the Procfile's real processes for a test, each with its own log, and stop them cleanly."""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from pipeline.config import BASE_DIR
from tests.support import needs
from webapp import process_groups

VENV_BIN = Path(sys.executable).parent
#: Runs a command as PID 1 of a PID namespace of its own, with its own /proc, as a container runtime does.
AS_PID_1 = ("unshare", "--pid", "--fork", "--mount-proc")


def procfile_commands(path: Path = BASE_DIR / "Procfile") -> dict[str, str]:
    commands = {}
    for line in path.read_text().splitlines():
        name, sep, command = line.partition(":")
        if sep and name.strip() and not name.startswith("#"):
            commands[name.strip()] = command.strip()
    return commands


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ProcfileProcess:
    """One Procfile process run through bash, exactly as honcho or a PaaS would run it."""

    def __init__(self, name: str, env: dict[str, str], log_dir: Path, command: str | None = None):
        self.name = name
        self.command = command or procfile_commands()[name]
        self.log_path = log_dir / f"{name}-{time.time_ns()}.log"
        self._log = self.log_path.open("wb")
        env = dict(env, PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', os.environ.get('PATH', ''))}")
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {self.command}"],
            env=env,
            cwd=BASE_DIR,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the process group, even once its leader is gone, and wait until the group is empty;
        returns the exit code (SIGKILLed when still there after `timeout`)."""
        process_groups.stop([process_groups.ProcessGroup(self.process)], sig, grace=timeout)
        self._log.close()
        return self.process.returncode


def pid_1_refusal() -> str | None:
    """Why this machine cannot run a command as PID 1 of its own PID namespace (AS_PID_1), or None."""
    if shutil.which(AS_PID_1[0]) is None:
        return f"{AS_PID_1[0]} (util-linux) is not installed"
    probe = subprocess.run([*AS_PID_1, "sh", "-c", 'test "$$" = 1'], capture_output=True, text=True, timeout=30)
    return None if probe.returncode == 0 else (probe.stderr.strip() or f"exit {probe.returncode}")


def need_pid_1() -> None:
    """Skip the test (fail it under CI) where a command cannot run as PID 1 of its own PID namespace."""
    if why := pid_1_refusal():
        needs.missing(
            f"a PID namespace of its own ({why})",
            install="util-linux's unshare, run as root (or where unprivileged user namespaces are allowed)",
        )


def as_pid_1(name: str) -> str:
    """The command that runs Procfile process `name` through bin/procfile as PID 1, as in a container."""
    return shlex.join([*AS_PID_1, "bin/procfile", name])


def manage(env: dict[str, str], *args: str, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
    """A management command in a process of its own, as an operator runs it from a terminal or a one-off container."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        env=dict(env, **extra_env),
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        check=check,
        timeout=120,
    )


def manage_side_by_side(env: dict[str, str], *commands: tuple[str, ...], **extra_env: str) -> list[str]:
    """Management commands that need nothing of each other's, each in a process of its own, all at once:
    one Django start-up's wall time instead of one each. Their outputs (stdout and stderr), in order."""
    running = [
        subprocess.Popen(
            [sys.executable, "manage.py", *args],
            env=dict(env, **extra_env),
            cwd=BASE_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for args in commands
    ]
    outputs = []
    for args, process in zip(commands, running, strict=True):
        output, _ = process.communicate(timeout=120)
        assert process.returncode == 0, f"manage.py {' '.join(args)} exited with {process.returncode}:\n{output}"
        outputs.append(output)
    return outputs


def run_procfile_once(
    name: str, env: dict[str, str], timeout: float = 120, command: str | None = None
) -> subprocess.CompletedProcess:
    env = dict(env, PATH=f"{VENV_BIN}{os.pathsep}{env.get('PATH', os.environ.get('PATH', ''))}")
    return subprocess.run(
        ["bash", "-c", command or procfile_commands()[name]],
        env=env,
        cwd=BASE_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=True,
    )


def wait_for(
    predicate: Callable[[], object],
    *,
    timeout: float,
    interval: float = 0.2,
    what: str = "condition",
    processes: list[ProcfileProcess] = (),
) -> object:
    """Poll until `predicate` is truthy; on timeout fail with the processes' logs."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        for proc in processes:
            if not proc.alive():
                raise AssertionError(f"{proc.name} exited with {proc.process.returncode}:\n{proc.log()[-4000:]}")
        time.sleep(interval)
    logs = "\n".join(f"--- {p.name} ---\n{p.log()[-4000:]}" for p in processes)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def namespace_pid(pid: int) -> int:
    """A process's pid in its innermost PID namespace: 1 for the main process of a container."""
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return int(next(line for line in status if line.startswith("NSpid:")).split()[-1])


def pid_1_process(process: ProcfileProcess, program: str) -> psutil.Process | None:
    """What a process started with as_pid_1 runs as PID 1 (the one child of `unshare --fork`), once that is
    `program`: bin/procfile, its bash and the Procfile's env exec into it, and bash forks subshells first."""
    children = psutil.Process(process.pid).children()
    if not children:
        return None
    try:
        words = children[0].cmdline()
    except psutil.NoSuchProcess:
        return None
    return children[0] if any(Path(word).name == program for word in words[:2]) else None


def dramatiq_worker_processes(master: psutil.Process) -> set[int]:
    """The pids of a dramatiq master's worker processes: its children that run its own command line.

    Not every child: a master that is PID 1 also adopts orphans (a dead worker's sandbox children).
    """
    try:
        command = master.cmdline()
        children = master.children()
    except psutil.NoSuchProcess:
        return set()
    workers = set()
    for child in children:
        try:
            if child.cmdline() == command:
                workers.add(child.pid)
        except psutil.NoSuchProcess:  # gone, or a zombie not reaped yet
            pass
    return workers


def dramatiq_idle(redis_url: str, queues: tuple[str, ...] = ("default", "render")) -> bool:
    """No message of `queues` waits, is delayed or is in flight: dramatiq keeps each in a hash until its ack."""
    import redis

    client = redis.Redis.from_url(redis_url)
    try:
        return not any(client.hlen(f"dramatiq:{queue}{delay}.msgs") for queue in queues for delay in ("", ".DQ"))
    finally:
        client.close()


def dramatiq_settled(log: str) -> bool:
    """No reload under way in a one-process worker's log: every reload asked for has booted its successor.

    A stop that lands while the master re-executes itself finds it with no handler yet: as PID 1 it
    would not even notice a SIGTERM. A test stops a recycling worker only once this holds.
    """
    boots = log.count("is booting up.")
    return boots == log.count("asks for a graceful reload") + 1 == log.count("Worker process is ready for action.")
