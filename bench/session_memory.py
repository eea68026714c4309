"""The investigator's peak memory with sessions at the events size cap, against one session's read.

    .venv/bin/python -m bench.session_memory [--rounds 3] [--sessions 4] [--concurrency 4]
        [--body-mib 31.9] [--chunked] [--memory-mb 512] [--malloc-arena-max N]

Four sessions whose events answers are just under the client's 32 MiB cap are served by a small
HTTP server in this process on 127.0.0.1 (with Content-Length, or chunked with `--chunked`, so the
client cannot know the size before reading). Each sample is a fresh child process
(`bench/_memory_child.py`) that imports what the investigator imports and then either:

- floor: reads ONE session's answer with `urllib.request` and `json.loads` it, the least any
  reader of one answer holds at once;
- investigation: runs the real `Investigation` and `FullstoryClient` on a request naming the four
  sessions at the investigator's FETCH_CONCURRENCY (4): summary and events of each, digested.

Memory is the child's peak RSS (`VmHWM`, reset after the imports by writing 5 to
/proc/self/clear_refs), which is what Lambda's "Max Memory Used" counts; `getrusage().ru_maxrss`
is not used, since Linux carries this process's high-water mark into the child. Printed: the
baseline RSS after the imports, each peak's growth over it, the ratio investigation / floor
(medians), and the investigation's whole peak against the function's MemorySize.

`--malloc-arena-max N` sets glibc's MALLOC_ARENA_MAX in the children. By default glibc gives each
thread its own malloc arena, which keeps what that thread freed: with many fetch threads, RSS then
grows with the thread count even though one large answer is held at a time.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from bench._fixture import REPO_ROOT, bench_environ
from bench._raw_events import generate
from bench._report import Summary, describe, machine, verdict

CHILD = REPO_ROOT / "bench" / "_memory_child.py"
MIB = 1024 * 1024
# The investigator's MemorySize in template.yaml, and the share of it a peak may use: the rest is
# room for what this benchmark does not model (the runtime's own process, a bigger summary).
MEMORY_MB = 512
TARGET_SHARE = 0.8
EVENTS_PATH = re.compile(r"/v2/sessions/([^/?]+)/events")
SUMMARY_PATH = re.compile(r"/v2/sessions/([^/?]+)/summary")


def events_body(target_bytes: int, seed: int) -> tuple[bytes, int]:
    """`{"events": [...]}` as the events endpoint answers it, as close under `target_bytes` as we get."""
    sample = json.dumps({"events": generate(2000, seed=seed).events}, separators=(",", ":")).encode()
    count = int(target_bytes / (len(sample) / 2000))
    events = generate(count, seed=seed).events
    body = json.dumps({"events": events}, separators=(",", ":")).encode()
    while len(body) > target_bytes:
        del events[-max(1, (len(body) - target_bytes) // 400) :]
        body = json.dumps({"events": events}, separators=(",", ":")).encode()
    return body, len(events)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the client's pool expects
    body: ClassVar[bytes] = b""
    chunked: ClassVar[bool] = False

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if EVENTS_PATH.fullmatch(path):
            self._send(self.body, chunked=self.chunked)
        elif SUMMARY_PATH.fullmatch(path):
            self._send(json.dumps({"summary": "A long session near the size cap."}).encode())
        else:
            self._send(b'{"message":"not found"}', status=404)

    def _send(self, body: bytes, *, status: int = 200, chunked: bool = False) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            view = memoryview(body)
            for start in range(0, len(body), MIB):
                piece = view[start : start + MIB]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
        else:
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextmanager
def serving(body: bytes, *, chunked: bool) -> Iterator[str]:
    handler = type("Handler", (_Handler,), {"body": body, "chunked": chunked})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def run_child(
    mode: str, base_url: str, session_ids: Sequence[str], concurrency: int, arena_max: int | None
) -> dict[str, Any]:
    command = [sys.executable, str(CHILD), mode, base_url, *session_ids, "--concurrency", str(concurrency)]
    env = bench_environ(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("MALLOC_ARENA_MAX", None)
    if arena_max is not None:
        env["MALLOC_ARENA_MAX"] = str(arena_max)
    completed = subprocess.run(  # noqa: S603 (our interpreter, our script, fixed arguments)
        command, env=env, cwd=REPO_ROOT, capture_output=True, text=True, check=False
    )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("BENCH_RESULT ")]
    if completed.returncode != 0 or not lines:
        raise SystemExit(f"{mode} child failed ({completed.returncode}):\n{completed.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix("BENCH_RESULT "))
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.session_memory", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--concurrency", type=int, default=4, help="the investigator's FETCH_CONCURRENCY")
    parser.add_argument("--body-mib", type=float, default=31.9, help="each events answer (cap: 32 MiB)")
    parser.add_argument("--chunked", action="store_true", help="no Content-Length: size known only as read")
    parser.add_argument("--memory-mb", type=int, default=MEMORY_MB, help="the function's MemorySize")
    parser.add_argument("--malloc-arena-max", type=int, help="glibc MALLOC_ARENA_MAX for the children")
    parser.add_argument("--seed", type=int, default=20261123)
    args = parser.parse_args(argv)
    if args.rounds < 2:
        parser.error("need at least 2 rounds")

    print("session_memory: investigator peak RSS, sessions at the events size cap, vs one session's read")
    print(f"  machine: {machine()}")
    body, count = events_body(int(args.body_mib * MIB), args.seed)
    session_ids = [f"73110465812043{index:02d}:81239964102333{index:02d}" for index in range(args.sessions)]
    print(
        f"  input: {args.sessions} sessions x {len(body):,} bytes ({len(body) / MIB:.1f} MiB, "
        f"{count:,} events); "
        f"served from 127.0.0.1 {'chunked' if args.chunked else 'with Content-Length'}; "
        f"concurrency {args.concurrency}; MALLOC_ARENA_MAX={args.malloc_arena_max or 'unset'}; "
        f"{args.rounds} rounds of fresh child processes"
    )
    samples: dict[str, list[float]] = {"baseline": [], "floor": [], "investigation": [], "peak": []}
    with serving(body, chunked=args.chunked) as base_url:
        for index in range(args.rounds):
            modes = ("floor", "investigation") if index % 2 == 0 else ("investigation", "floor")
            for mode in modes:
                result = run_child(mode, base_url, session_ids, args.concurrency, args.malloc_arena_max)
                samples[mode].append(result["growth"] / MIB)
                if mode == "investigation":
                    samples["baseline"].append(result["baseline"] / MIB)
                    samples["peak"].append(result["peak"] / MIB)
    summaries = {name: Summary.of(values) for name, values in samples.items()}
    print(describe("baseline RSS (imports)", summaries["baseline"], "MB"))
    print(describe("floor: 1 read+parse", summaries["floor"], "MB") + "   (growth over the baseline)")
    print(describe("investigation growth", summaries["investigation"], "MB"))
    ratio = summaries["investigation"].median / summaries["floor"].median
    print(f"  ratio investigation/floor (medians) {ratio:.2f}x   (one session's read+parse = 1x)")
    peak = summaries["peak"].median
    limit = args.memory_mb * TARGET_SHARE
    print(
        f"  investigation peak RSS (median) {peak:.0f} MB of MemorySize {args.memory_mb} MB "
        f"({peak / args.memory_mb:.0%})   target <= {TARGET_SHARE:.0%} ({limit:.0f} MB)   "
        f"{verdict(peak, limit)}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
