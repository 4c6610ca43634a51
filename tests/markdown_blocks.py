"""Run the code blocks of a Markdown page as written: the README's and the guide's examples are tests.

A page's fenced blocks whose language is ``python``, ``sh``, ``bash`` or ``console`` are examples. They run in
order, in one temporary working directory per page that holds links to the repository's ``src``, ``examples``
and ``docs`` (so a path such as ``src/rastercover/data/alaska/trees.shp`` is the bundled file, as it is from the
repository's root), with this interpreter's ``bin`` first on ``PATH`` (``rastercover`` is the installed one).
Python blocks share one namespace per page; shell blocks run with ``bash -euo pipefail``.

An HTML comment on the line just before a block changes that:

* ``<!-- not run: REASON -->``: shown, not run; the reason is required (the tests list these blocks, so
  they stay few and explained).
* ``<!-- run: background -->``: a shell block that serves (``rastercover serve ... --port N``); it is started,
  the blocks after it run once port N (else ``$PORT``, a free port put in its environment) answers, and it is
  stopped at the end of the page.
* ``<!-- output: TEXT -->``: the block's standard output must contain TEXT.

Blocks of any other language (``text``, ``toml``, ``json``, ``sql``, and ``py`` / ``pycon`` transcripts, which
are docstring examples that the doctests run) are shown, not run.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNNABLE = {"python": "python", "sh": "sh", "bash": "sh", "shell": "sh", "console": "sh"}
LINKED = ("src", "examples", "docs")
_FENCE = re.compile(r"^(?P<indent> *)```(?P<lang>[\w+-]*)[^\n]*$")
_DIRECTIVE = re.compile(r"^\s*<!--\s*(?P<key>not run|run|output)\s*:\s*(?P<arg>.*?)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    path: Path
    line: int  # 1-based line of the opening fence
    lang: str  # "python", "sh" or the fence's own language when it is not run
    code: str
    directive: tuple[str, str] | None  # ("not run", reason), ("run", "background"), ("output", text)

    @property
    def runs(self) -> bool:
        return self.lang in ("python", "sh") and (self.directive is None or self.directive[0] != "not run")

    def where(self) -> str:
        return f"{self.path.relative_to(ROOT)}:{self.line}"


def blocks(path: Path) -> list[Block]:
    """Every fenced block of the Markdown file ``path``, with the directive just before it, in order."""
    lines = path.read_text(encoding="utf-8").splitlines()
    found: list[Block] = []
    i = 0
    while i < len(lines):
        m = _FENCE.match(lines[i])
        if not m:
            i += 1
            continue
        indent = len(m["indent"])
        start = i
        body: list[str] = []
        i += 1
        while i < len(lines) and not re.match(r"^ *```\s*$", lines[i]):
            body.append(lines[i][indent:] if lines[i][:indent].strip() == "" else lines[i])
            i += 1
        i += 1  # the closing fence
        directive = None
        j = start - 1
        while j >= 0 and not lines[j].strip():
            j -= 1
        if j >= 0 and (d := _DIRECTIVE.match(lines[j])):
            directive = (d["key"], d["arg"])
        lang = RUNNABLE.get(m["lang"], m["lang"] or "text")
        found.append(Block(path, start + 1, lang, "\n".join(body) + "\n", directive))
    return found


def not_run(path: Path) -> list[Block]:
    """The runnable-language blocks of ``path`` marked ``not run``."""
    return [b for b in blocks(path) if b.lang in ("python", "sh") and not b.runs]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_taken(port: int) -> bool:
    with socket.socket() as s, contextlib.suppress(OSError):
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0
    return False


def _wait_for_port(port: int, proc: subprocess.Popen, log: Path, where: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"{where}: the server exited with {proc.returncode}:\n{log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.05)  # polling a port that a child opens; not a timing assumption
    raise AssertionError(f"{where}: nothing answered on port {port} within {timeout} s")


def prepare(workdir: Path) -> None:
    """Make ``workdir`` look like the repository's root for the examples (links, no copies)."""
    for name in LINKED:
        link = workdir / name
        if not link.exists():
            link.symlink_to(ROOT / name, target_is_directory=True)


def environment(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the shell examples run in: this interpreter's ``bin`` first on ``PATH``."""
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.pop("PYTHONPATH", None)
    env.update(extra or {})
    return env


def run_page(path: Path, workdir: Path, *, env: dict[str, str] | None = None, port: int | None = None) -> list[Block]:
    """Run every runnable block of ``path`` in ``workdir``; return the blocks that ran.

    ``env`` is added to the environment of shell blocks and set in this process for Python blocks (and restored).
    A ``run: background`` block gets ``$PORT`` in its environment: ``port``, or a free one.
    """
    prepare(workdir)
    shell_env = environment(env)
    namespace: dict = {"__name__": "__main__"}
    ran: list[Block] = []
    servers: list[subprocess.Popen] = []
    saved_env = dict(os.environ)
    old_cwd = os.getcwd()
    os.chdir(workdir)
    os.environ.update(env or {})
    try:
        for block in blocks(path):
            if not block.runs:
                continue
            if block.lang == "python":
                _run_python(block, namespace)
            elif block.directive == ("run", "background"):
                given = re.search(r"--port[ =](\d+)", block.code)
                shell_env["PORT"] = given[1] if given else str(port or _free_port())
                assert not _port_taken(int(shell_env["PORT"])), (
                    f"{block.where()}: port {shell_env['PORT']} is in use already: the examples would talk to "
                    "another server"
                )
                log = workdir / f".server-{len(servers)}.log"  # a file: a pipe nobody reads fills up
                with open(log, "w") as out:
                    proc = subprocess.Popen(
                        ["bash", "-c", "exec " + block.code.strip()],
                        cwd=workdir, env=shell_env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                    )  # fmt: skip
                servers.append(proc)
                _wait_for_port(int(shell_env["PORT"]), proc, log, block.where())
            else:
                done = subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", block.code], cwd=workdir, env=shell_env,
                    capture_output=True, text=True, timeout=600,
                )
                assert done.returncode == 0, (
                    f"{block.where()}: exit status {done.returncode}\n$ {block.code}\n{done.stdout}\n{done.stderr}"
                )
                _check_output(block, done.stdout)
            ran.append(block)
    finally:
        for proc in servers:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        os.chdir(old_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
    return ran


def _run_python(block: Block, namespace: dict) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(block.code, block.where(), "exec"), namespace)
    _check_output(block, out.getvalue())


def _check_output(block: Block, printed: str) -> None:
    if block.directive and block.directive[0] == "output":
        expected = block.directive[1]
        assert expected in printed, f"{block.where()}: printed {printed!r}, expected {expected!r}"
