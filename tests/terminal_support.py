"""Run a command in a real pseudo-terminal and render what a person would see on it.

`run_in_pty` gives the command a terminal of a known size (stdin, stderr and, unless piped,
stdout); `render` plays the bytes through a minimal terminal (carriage return, line feed, cursor
up, erase line; colours ignored) and returns the lines left on the screen and its scrollback.
"""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import subprocess
import termios
import time
from dataclasses import dataclass

_CSI = re.compile(r"\x1b\[([0-9;?]*)([A-Za-z])")
_OSC = re.compile(r"\x1b\][^\x07]*\x07")


@dataclass
class PtyRun:
    """A finished command: exit code, the terminal's bytes as text, and stdout if piped."""

    returncode: int
    terminal: str
    stdout: str | None


def run_in_pty(argv: list[str], env: dict[str, str], cols: int = 100, rows: int = 40,
               pipe_stdout: bool = False, timeout: float = 600) -> PtyRun:
    """Run argv with a pseudo-terminal as its stdin and stderr (and stdout unless piped)."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
    proc = subprocess.Popen(argv, stdin=slave, stderr=slave, env=env, close_fds=True,
                            stdout=subprocess.PIPE if pipe_stdout else slave)
    os.close(slave)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every writer closed the terminal
                    break
                if not data:
                    break
                chunks.append(data)
            elif proc.poll() is not None and not _pending(master):
                break
        out = proc.stdout.read().decode() if proc.stdout else None
        proc.wait(timeout=max(1.0, deadline - time.monotonic()))
    finally:
        if proc.poll() is None:
            proc.kill()
        os.close(master)
    return PtyRun(proc.returncode, b"".join(chunks).decode("utf-8", "replace"), out)


def _pending(fd: int) -> bool:
    ready, _, _ = select.select([fd], [], [], 0)
    return bool(ready)


def render(text: str, cols: int = 100) -> list[str]:
    """The lines a `cols`-wide terminal shows (with its scrollback) after receiving `text`."""
    text = _OSC.sub("", text)
    lines: list[list[str]] = [[]]
    row = col = 0
    pos = 0
    while pos < len(text):
        match = _CSI.match(text, pos)
        if match:
            args, op = match.groups()
            if op == "A":
                row = max(0, row - int(args or 1))
            elif op == "K":
                lines[row] = lines[row][:col] if args in ("", "0") else []
            elif op == "G":
                col = int(args or 1) - 1
            pos = match.end()
            continue
        char = text[pos]
        pos += 1
        if char == "\n":
            row += 1
            if row == len(lines):
                lines.append([])
        elif char == "\r":
            col = 0
        elif char == "\b":
            col = max(0, col - 1)
        elif char >= " ":
            if col >= cols:  # auto-wrap onto the next row
                row, col = row + 1, 0
                if row == len(lines):
                    lines.append([])
            line = lines[row]
            line.extend(" " * (col - len(line)))
            if col < len(line):
                line[col] = char
            else:
                line.append(char)
            col += 1
    shown = ["".join(line).rstrip() for line in lines]
    while shown and not shown[-1]:
        shown.pop()
    return shown
