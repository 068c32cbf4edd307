"""Argument types and pre-flight checks shared by every command: bad input fails at parse time, in one line
that names the flag, before any work starts.

    p.add_argument("--steps", type=positive_int)            # "argument --steps: must be ≥ 1, got 0"
    p.add_argument("--minutes", type=positive_float)        # rejects 0, -1, nan, inf
    p.add_argument("--fps", type=int_range(1, 240))
    p.add_argument("--out", type=output_file(".mp4"))       # not a folder, its folder writable
    p.add_argument("--head-model", type=head_model_spec)    # "default" or an existing file

argparse adds the flag's name ("argument --steps: …") to the ArgumentTypeError raised here; `OneLineParser`
prints that as the single line "error: argument --steps: …" with exit code 2. Memory bounds
(`check_memory`) compare an estimate of what a command will allocate with the memory available now.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path


class OneLineParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors are one line on stderr (exit code 2), not usage + error."""

    def error(self, message: str):
        self.exit(2, f"error: {message} (see {self.prog} --help)\n")


def _int(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def _float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text!r}")
    return value


def int_range(lo: int, hi: int | None = None):
    """argparse type: an integer in [lo, hi] (hi None: no upper bound)."""
    def parse(text: str) -> int:
        value = _int(text)
        if value < lo or (hi is not None and value > hi):
            bound = f"≥ {lo}" if hi is None else f"in {lo}..{hi}"
            raise argparse.ArgumentTypeError(f"must be {bound}, got {value}")
        return value
    parse.__name__ = f"int_range({lo}, {hi})"
    return parse


def float_range(lo: float, hi: float, lo_open: bool = False):
    """argparse type: a finite float in [lo, hi] ((lo, hi] with `lo_open`); nan and inf are refused."""
    def parse(text: str) -> float:
        value = _float(text)
        if value < lo or value > hi or (lo_open and value == lo):
            raise argparse.ArgumentTypeError(f"must be {'>' if lo_open else '≥'} {lo:g} and ≤ {hi:g}, got {text}")
        return value
    parse.__name__ = f"float_range({lo}, {hi})"
    return parse


positive_int = int_range(1)
"""argparse type: an integer ≥ 1."""
non_negative_int = int_range(0)
"""argparse type: an integer ≥ 0."""
seed = int_range(0, 2 ** 32 - 1)
"""argparse type: a random seed (numpy's SeedSequence range)."""
positive_float = float_range(0.0, 1e9, lo_open=True)
"""argparse type: a finite float > 0."""
finite_float = float_range(-1e9, 1e9)
"""argparse type: any finite float (|x| ≤ 1e9)."""


def head_model_spec(text: str) -> str:
    """argparse type: 'default' or the path of an existing head-model file."""
    if text == "default":
        return text
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a folder; expected 'default' or a FLAME generic_model.pkl / .npz")
    if not path.is_file():
        raise argparse.ArgumentTypeError(f"head-model file not found: {text} (expected 'default' or a FLAME "
                                         "generic_model.pkl / .npz)")
    return text


def _writable_ancestor(path: Path) -> str | None:
    """None if files can be created at `path` (its nearest existing ancestor is a writable folder), else why."""
    parent = path.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        return f"{parent} is not a folder"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"cannot write in {parent} (read-only or no permission)"
    return None


def check_output_file(path: str | Path, flag: str, suffix: str | None = None) -> Path:
    """ValueError unless a file can be written at `path`: not a folder, right suffix, folder writable."""
    path = Path(path)
    if suffix is not None and path.suffix.lower() != suffix:
        raise ValueError(f"{flag} {path}: the file must end in {suffix}")
    if path.is_dir():
        raise ValueError(f"{flag} {path} is a folder; give a file name")
    if path.exists() and not os.access(path, os.W_OK):
        raise ValueError(f"{flag} {path}: the file is read-only")
    why = _writable_ancestor(path)
    if why:
        raise ValueError(f"{flag} {path}: {why}")
    return path


def check_output_dir(path: str | Path, flag: str) -> Path:
    """ValueError unless `path` is (or can be created as) a writable folder."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise ValueError(f"{flag} {path} exists and is not a folder")
    if path.is_dir() and not os.access(path, os.W_OK | os.X_OK):
        raise ValueError(f"{flag} {path}: cannot write in it (read-only or no permission)")
    why = _writable_ancestor(path)  # commands build a sibling temp folder and rename it: the parent too
    if why:
        raise ValueError(f"{flag} {path}: {why}")
    return path


def output_file(suffix: str | None = None):
    """argparse type: `check_output_file` at parse time (argparse names the flag)."""
    def parse(text: str) -> Path:
        try:
            return check_output_file(text, "", suffix)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc).strip()) from None
    parse.__name__ = "output_file"
    return parse


def output_dir(text: str) -> Path:
    """argparse type: `check_output_dir` at parse time."""
    try:
        return check_output_dir(text, "")
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc).strip()) from None


def available_memory() -> int:
    """Bytes of memory available to a new allocation now (MemAvailable; total RAM where unknown)."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return sys.maxsize


def gib(n: float) -> str:
    return f"{n / 2 ** 30:.1f} GiB"


def check_memory(need: int, what: str, fix: str) -> None:
    """ValueError if `need` bytes (an estimate) exceed the memory available now."""
    have = available_memory()
    if need > have:
        raise ValueError(f"{what} needs about {gib(need)} of memory, {gib(have)} is available: {fix}")
