"""`sales-analyzer serve …`: one process of the service."""

from __future__ import annotations

import asyncio
import ctypes
import errno
import logging
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Coroutine
from typing import Any

import uvicorn

from ..kafka_access import EXIT_REFUSED
from ..logs import setup_logging
from ..settings import Settings

__all__ = ["return_big_buffers", "serve", "yield_cpu"]

log = logging.getLogger("sales_analyzer.serve")


def run(main: Coroutine[Any, Any, None]) -> None:
    """Run on uvloop when installed (it is a dependency): ~20% less CPU per request."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - optional speed-up
        asyncio.run(main)
    else:
        uvloop.run(main)


def _reuseport_socket(host: str, port: int) -> socket.socket:
    # proto must be IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted
    # connections only when the listening socket says so.
    sock = socket.socket(
        socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP
    )
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.setblocking(False)
    return sock


def _gateway_worker(index: int, settings: Settings) -> None:
    """One gateway worker: its own SO_REUSEPORT socket, its own event loop and clients."""
    from ..gateway.app import create_app

    setup_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        process=f"gateway-{index}",
        outage_summary_seconds=settings.log_outage_summary_seconds,
    )
    sock = _reuseport_socket(settings.gateway_host, settings.gateway_port)
    config = uvicorn.Config(
        create_app(settings), log_config=None, access_log=False, timeout_graceful_shutdown=30
    )
    run(uvicorn.Server(config).serve(sockets=[sock]))


def _serve_gateway(settings: Settings) -> int:
    """Run GATEWAY_WORKERS gateway processes.

    Why not ``uvicorn --workers``: it binds the listening socket itself without a
    protocol (proto 0), and asyncio then skips TCP_NODELAY on accepted
    connections, so every response waited ~40 ms for a delayed ACK (measured: 363
    req/s on /healthz with 2 workers against 2,970 with one). Here each worker
    binds its own SO_REUSEPORT socket with IPPROTO_TCP and the kernel balances
    connections between them.
    """
    if settings.gateway_workers == 1:
        _gateway_worker(0, settings)
        return 0
    # Each worker counts in files of a shared directory, so whichever worker answers
    # GET /metrics reports the whole gateway (prometheus_client's multiprocess mode;
    # it must be set before prometheus_client is first imported, i.e. in the workers).
    metrics_dir = tempfile.mkdtemp(prefix="sales-gateway-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    try:
        return _supervise_workers(settings)
    finally:
        shutil.rmtree(metrics_dir, ignore_errors=True)


def _supervise_workers(settings: Settings) -> int:
    ctx = multiprocessing.get_context("fork")  # before any event loop or client exists
    workers: dict[int, Any] = {}
    stopping = refused = False

    def start(i: int) -> None:
        proc = ctx.Process(target=_gateway_worker, args=(i, settings), name=f"gateway-{i}")
        proc.start()
        workers[i] = proc

    def stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        for proc in workers.values():
            if proc.is_alive():
                os.kill(proc.pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for i in range(settings.gateway_workers):
        start(i)
    while True:
        time.sleep(0.5)
        if _replace_dead(
            workers,
            start=start,
            stopping=lambda: stopping,
            stop_all=lambda: stop(signal.SIGTERM, None),
        ):
            refused = True
        if stopping:
            for proc in workers.values():
                proc.join(timeout=40)
            return EXIT_REFUSED if refused else 0


def _replace_dead(
    workers: dict[int, Any],
    *,
    start: Callable[[int], None],
    stopping: Callable[[], bool],
    stop_all: Callable[[], None],
) -> bool:
    """Start a new worker for each that died; True when Kafka refused one (then all stop)."""
    refused = False
    for i, proc in list(workers.items()):
        if not proc.is_alive() and not stopping() and proc.exitcode == EXIT_REFUSED:
            # Kafka refused the gateway (its one line is logged): a restart cannot help
            stop_all()
            refused = True
        if not proc.is_alive() and not stopping():
            from prometheus_client import multiprocess

            if proc.pid is not None:
                multiprocess.mark_process_dead(proc.pid)  # type: ignore[no-untyped-call]  # its live gauges go
            start(i)  # a crashed worker is replaced; the others keep serving
    return refused


def yield_cpu(nice: int) -> None:
    """Lower this process's CPU priority (a background stage: ingest, reporter).

    Linux puts each session in its own scheduling "autogroup" and weighs the groups
    equally, so a plain nice() only counts against the process's own session; the
    autogroup's nice is what makes it yield to the gateway. The autogroup is the
    whole session's, so it is changed only by a session leader (deploy/native/up
    and the tests start each process with setsid); run from a terminal, only the
    process's own nice changes. Both are best-effort: raising one's own nice needs
    no privilege, and a container's cgroup has no autogroup (compose gives the
    consumers a smaller cpu_shares instead).
    """
    if nice <= 0:
        return
    try:
        os.nice(nice)
    except OSError:  # pragma: no cover - not permitted here
        return
    if os.getsid(0) != os.getpid():
        return
    # Without CAP_SYS_ADMIN the kernel takes one autogroup write per 100 ms system-wide
    # and answers EAGAIN to the rest: ingest and reporter start together, so retry.
    for _ in range(20):
        try:
            with open("/proc/self/autogroup", "w") as f:
                f.write(str(nice))
            return
        except OSError as exc:
            if exc.errno != errno.EAGAIN:
                return  # no autogroups (not Linux, a cgroup of its own, or switched off)
        time.sleep(0.1)
    log.warning("could not lower the autogroup's CPU priority (the kernel kept answering EAGAIN)")


def return_big_buffers() -> None:
    """Let glibc give megabyte buffers back to the system as soon as they are freed (ingest).

    A big day passes through ingest as ~1 MiB chunks. glibc's malloc raises its mmap
    threshold after the first such buffer is freed, and from then on serves them from
    the heap and its per-thread arenas, where freed chunks fragment and stay resident
    (ingest peaked 10-30 MB higher on a 1M-product day, measured). A fixed threshold
    keeps them on mmap, returned on free; two arenas are plenty for the few threads it
    runs. Not for the gateway: with it, bench_ingest accepted 695-769 small uploads/s
    against 1,074-1,492 without, in the same minutes (mmap/munmap per producer batch,
    presumably); its RSS on a big day is the same either way (107-111 MB).
    Best effort: other C libraries have no mallopt, and nothing else depends on it.
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 256 * 1024)
        libc.mallopt(_M_ARENA_MAX, 2)
    except (OSError, AttributeError):  # pragma: no cover - not glibc
        pass


_M_MMAP_THRESHOLD = -3  # glibc's malloc.h
_M_ARENA_MAX = -8


def serve(process: str, settings: Settings) -> int:
    setup_logging(
        level=settings.log_level,
        fmt=settings.log_format,
        process=process,
        outage_summary_seconds=settings.log_outage_summary_seconds,
    )
    if process == "gateway":
        return _serve_gateway(settings)
    from ..runtime import serve_asgi

    yield_cpu(settings.background_nice)

    if process == "ingest":
        from ..ingest.app import build_ingest

        return_big_buffers()
        run(
            serve_asgi(
                build_ingest(settings),
                host=settings.gateway_host,
                port=settings.ingest_metrics_port,
            )
        )
    else:
        from ..reporter.app import build_reporter

        run(
            serve_asgi(
                build_reporter(settings),
                host=settings.gateway_host,
                port=settings.reporter_metrics_port,
            )
        )
    return 0
