"""Executors: where jobs run. Each gives ``slots`` (how many jobs may be in flight), ``submit(payload)
-> Future`` of the worker's outcome dict, and ``shutdown(kill=...)``.

* ``LocalExecutor``: in the driver process, one job at a time (debugging, tiny studies).
* ``PoolExecutor``: N spawned processes with T torch threads each.
* ``RayExecutor``: one Ray task per job (``num_cpus=T``, a GPU when the job's device is CUDA); joins
  a cluster with ``address`` or starts a local Ray instance. Ray is an optional extra, imported late.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from ..errors import ConfigError
from .worker import execute, init_worker


class LocalExecutor:
    name = "local"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.slots = 1

    def submit(self, payload: dict[str, Any]) -> Future:
        import torch

        before = torch.get_num_threads()
        fut: Future = Future()
        try:
            fut.set_result(execute({**payload, "threads": self.threads}))
        except Exception as err:  # as a pool worker's would: recorded as this run's failure
            fut.set_exception(err)
        finally:
            torch.set_num_threads(before)
        return fut

    def restart(self) -> None:
        pass

    def shutdown(self, *, kill: bool = False) -> None:
        pass


class PoolExecutor:
    name = "pool"

    def __init__(self, workers: int, threads: int = 1, context: str = "spawn") -> None:
        self.slots = workers
        self.threads = threads
        self._context = multiprocessing.get_context(context)
        self._pool = self._new_pool()

    def _new_pool(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.slots, mp_context=self._context, initializer=init_worker,
                                   initargs=(self.threads,))

    def submit(self, payload: dict[str, Any]) -> Future:
        return self._pool.submit(execute, {**payload, "threads": self.threads})

    def restart(self) -> None:
        """A worker died (the pool is broken): start a fresh pool."""
        self.shutdown(kill=True)
        self._pool = self._new_pool()

    def shutdown(self, *, kill: bool = False) -> None:
        pool = self._pool
        if not kill:
            pool.shutdown(wait=True)
            return
        # Python < 3.14 has no public way to stop busy workers; their runs resume from checkpoints.
        processes = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in processes:
            if proc.is_alive():
                proc.terminate()
        for proc in processes:
            proc.join(timeout=10)


class RayExecutor:
    name = "ray"

    def __init__(self, threads: int = 1, workers: int | None = None, address: str | None = None,
                 num_cpus: int | None = None) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'prunebench[ray]'") from None
        self._ray = ray
        self.threads = threads
        self._owned = not ray.is_initialized()
        if self._owned:
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False}
            if address:
                kwargs["address"] = address
            elif num_cpus:
                kwargs["num_cpus"] = num_cpus
            try:
                ray.init(**kwargs)
            except ConnectionError as err:
                raise ConfigError(f"cannot join the Ray cluster at {address!r}: {str(err).splitlines()[0]}") from None
        cpus = int(ray.cluster_resources().get("CPU", 1))
        self.slots = workers or max(1, cpus // max(1, threads))
        self._remote = ray.remote(execute)
        self._refs: list[Any] = []

    def submit(self, payload: dict[str, Any]) -> Future:
        gpus = 1 if str(payload.get("device", "cpu")).startswith("cuda") else 0
        task = self._remote.options(num_cpus=self.threads, num_gpus=gpus, max_retries=0)
        ref = task.remote({**payload, "threads": self.threads})
        self._refs = [r for r in self._refs if not _ready(self._ray, r)] + [ref]
        return ref.future()

    def restart(self) -> None:
        pass

    def shutdown(self, *, kill: bool = False) -> None:
        if kill:
            for ref in self._refs:
                try:
                    self._ray.cancel(ref, force=True)
                except Exception:  # already finished or gone
                    pass
        self._refs = []
        if self._owned:
            self._ray.shutdown()


def _ready(ray: Any, ref: Any) -> bool:
    done, _ = ray.wait([ref], timeout=0)
    return bool(done)


def make_executor(kind: str, *, workers: int = 1, threads: int = 1, address: str | None = None) -> Any:
    if workers < 1 or threads < 1:
        raise ConfigError(f"--workers and --threads must be >= 1, got {workers} and {threads}")
    if kind == "ray":
        return RayExecutor(threads=threads, workers=workers if workers > 1 else None, address=address)
    if address:
        raise ConfigError("--address is for --executor ray")
    if kind != "local":
        raise ConfigError(f"unknown executor {kind!r}; valid: local, ray")
    return LocalExecutor(threads) if workers == 1 else PoolExecutor(workers, threads)
