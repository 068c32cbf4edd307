"""One writer per checkpoint: `train` holds `<out>.lock` while it may write `<out>` and `<out>.train.pt`.

The lock is an flock on the file (the kernel drops it when the process dies, kill -9 included), and the
file holds the owner's pid for the message a second run prints. A lock file left by a dead process is
stale: the next run takes it over. Where flock is unsupported (some network file systems) the pid alone
decides: a lock whose pid is not running is stale.
"""
from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path


class LockedError(ValueError):
    """Another live process holds the lock, or the lock file cannot be made (a one-line message)."""


def lock_path(out: str | Path) -> Path:
    return Path(str(out) + ".lock")


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one owned by another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _read_pid(fd: int) -> int | None:
    os.lseek(fd, 0, os.SEEK_SET)
    text = os.read(fd, 64).decode(errors="replace").strip()
    return int(text) if text.isdigit() else None


class OutputLock:
    """`with OutputLock(out):` — hold the lock on `out` for the block; LockedError if a live process has it."""

    def __init__(self, out: str | Path):
        self.out, self.path, self.fd = Path(out), lock_path(out), None
        self.stale_pid: int | None = None
        """the pid found in a stale lock file that this lock took over (None if there was none)."""

    def __enter__(self) -> "OutputLock":
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(10):  # retried only when the file was replaced under us
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise LockedError(f"cannot create the lock file {self.path}: {exc.strerror}") from None
            try:
                held = self._lock(fd)
                if held is not None:
                    raise LockedError(f"{self.out} is being written by another training run (pid {held}); wait "
                                      f"for it to finish or choose another --out")
                if self._same_file(fd):
                    previous = _read_pid(fd)
                    self.stale_pid = previous if previous != os.getpid() else None
                    os.ftruncate(fd, 0)
                    os.lseek(fd, 0, os.SEEK_SET)
                    os.write(fd, f"{os.getpid()}\n".encode())
                    self.fd = fd
                    return self
            except BaseException:
                os.close(fd)
                raise
            os.close(fd)  # the previous owner removed the file between our open and our lock: start again
        raise LockedError(f"{self.path}: could not take the lock (the file keeps changing)")

    def _lock(self, fd: int) -> int | str | None:
        """None once we hold it, else the pid (or '?') of the live owner."""
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return None
        except BlockingIOError:
            return _read_pid(fd) or "?"
        except OSError as exc:
            if exc.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
                raise
        pid = _read_pid(fd)  # no flock here: the pid decides
        return pid if pid is not None and pid != os.getpid() and pid_alive(pid) else None

    def _same_file(self, fd: int) -> bool:
        try:
            return os.stat(self.path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            return False

    def __exit__(self, *exc) -> None:
        if self.fd is not None:
            self.path.unlink(missing_ok=True)  # before the unlock, so a waiting run never holds a removed file
            os.close(self.fd)
            self.fd = None
