"""Executors: where jobs run. Each gives ``slots`` (how many jobs may be in flight), ``submit(payload)
-> Future`` of the worker's outcome dict, and ``shutdown(kill=...)``.

* ``LocalExecutor``: in the driver process, one job at a time (debugging, tiny studies).
* ``PoolExecutor``: N spawned processes with T torch threads each; on a GPU machine each worker has
  a slot and its own GPU (``CUDA_VISIBLE_DEVICES`` set before its first CUDA call), slots spread over
  the GPUs round-robin, K workers per GPU at most (``workers_per_gpu``).
* ``RayExecutor``: one Ray task per job (``num_cpus=T``; a GPU job asks for ``num_gpus=1/K`` and
  runs in a fresh worker, ``max_calls=1``, so that no worker keeps the GPU of an earlier task); joins
  a cluster with ``address`` or starts a local Ray instance. Ray is an optional extra, imported late.

Placement: ``device(requested)`` is the device a job runs on. ``auto`` becomes ``cuda`` when the
machine (local, pool) or the cluster (Ray) has GPUs, else ``cpu``; in a pool worker or a Ray task,
``cuda`` and ``cuda:N`` mean "this worker's GPU" (the spec, and so the run id, keep what was written);
in-process, ``cuda:N`` is that GPU of the machine. A GPU that is not there is an error up front.
"""
from __future__ import annotations

import multiprocessing
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any

from .. import devices
from ..errors import ConfigError
from .worker import execute, init_worker


class LocalExecutor:
    name = "local"

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.slots = 1
        self.gpus = devices.cuda_device_count()

    def device(self, requested: str) -> str:
        return devices.check_device_name(requested, self.gpus)

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

    def __init__(self, workers: int, threads: int = 1, context: str = "spawn", *, gpus: list[int] | None = None,
                 workers_per_gpu: int = 1) -> None:
        """``gpus``: the GPUs to spread the workers over (None or empty: CPU workers, GPUs not hidden)."""
        self.slots = workers
        self.threads = threads
        self.gpus = len(gpus) if gpus else 0
        self.slot_gpus = devices.gpu_slots(workers, list(gpus), workers_per_gpu) if gpus else []
        self._context = multiprocessing.get_context(context)
        self._pool = self._new_pool()

    def device(self, requested: str) -> str:
        resolved = devices.check_device_name(requested, self.gpus)
        return "cuda" if resolved.startswith("cuda") else resolved  # the worker's own GPU

    def _new_pool(self) -> ProcessPoolExecutor:
        free = self._context.Queue()  # each new worker takes one slot number
        for slot in range(self.slots):
            free.put(slot)
        return ProcessPoolExecutor(self.slots, mp_context=self._context, initializer=init_worker,
                                   initargs=(self.threads, free, self.slot_gpus))

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
                 num_cpus: int | None = None, workers_per_gpu: int = 1) -> None:
        try:
            import ray
        except ImportError:
            raise ConfigError("the ray executor needs Ray: pip install 'prunebench[ray]'") from None
        if workers_per_gpu < 1:  # before a local cluster is started
            raise ConfigError(f"--workers-per-gpu must be >= 1, got {workers_per_gpu}")
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
            if not address:  # a local cluster, started by this driver
                from .raycleanup import watch_local_cluster

                watch_local_cluster(ray)  # its processes go when this driver does, even on kill -9
        resources = ray.cluster_resources()
        cpus = int(resources.get("CPU", 1))
        self.gpus = int(resources.get("GPU", 0))
        self.per_gpu = workers_per_gpu
        self.slots = workers or max(1, cpus // max(1, threads))
        self._remote = ray.remote(execute)
        self._remote_gpu = ray.remote(max_calls=1)(execute)  # a fresh worker per GPU task (options() cannot say so)
        self._refs: list[Any] = []

    def device(self, requested: str) -> str:
        resolved = devices.check_device_name(requested, self.gpus, "device (on the Ray cluster)")
        return "cuda" if resolved.startswith("cuda") else resolved  # the GPU Ray gives the task

    def task_options(self, device: str) -> dict[str, Any]:
        """Ray resources of a job on ``device``: a GPU job asks for 1/K of a GPU."""
        gpus = 1 / self.per_gpu if device.startswith("cuda") else 0
        return {"num_cpus": self.threads, "max_retries": 0, "num_gpus": gpus}

    def remote_for(self, device: str) -> Any:
        """The remote function of a job on ``device``: for a GPU job one with ``max_calls=1`` (its
        worker exits after the task, so no worker keeps the GPU, or the CUDA context, of an earlier one)."""
        return self._remote_gpu if device.startswith("cuda") else self._remote

    def submit(self, payload: dict[str, Any]) -> Future:
        device = str(payload.get("device", "cpu"))
        task = self.remote_for(device).options(**self.task_options(device))
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
            from .raycleanup import release

            self._ray.shutdown()
            release()  # the watcher kills whatever of the local cluster is still there


def _ready(ray: Any, ref: Any) -> bool:
    done, _ = ray.wait([ref], timeout=0)
    return bool(done)


def make_executor(kind: str, *, workers: int = 1, threads: int = 1, address: str | None = None,
                  workers_per_gpu: int | None = None, devices_asked: tuple[str, ...] | list[str] = ()) -> Any:
    """The executor of a study whose jobs ask for ``devices_asked`` (their spec's devices): pool
    workers get GPUs when a job runs on CUDA; ``workers_per_gpu`` packs K runs on one GPU."""
    if workers < 1 or threads < 1:
        raise ConfigError(f"--workers and --threads must be >= 1, got {workers} and {threads}")
    if workers_per_gpu is not None and workers_per_gpu < 1:
        raise ConfigError(f"--workers-per-gpu must be >= 1, got {workers_per_gpu}")
    if kind == "ray":
        ex: Any = RayExecutor(threads=threads, workers=workers if workers > 1 else None, address=address,
                              workers_per_gpu=workers_per_gpu or 1)
    elif address:
        raise ConfigError("--address is for --executor ray")
    elif kind != "local":
        raise ConfigError(f"unknown executor {kind!r}; valid: local, ray")
    elif workers == 1:
        ex = LocalExecutor(threads)
    else:
        gpus = devices.cuda_device_count()
        on_gpu = any(devices.check_device_name(d, gpus).startswith("cuda") for d in set(devices_asked))
        ex = PoolExecutor(workers, threads, gpus=list(range(gpus)) if on_gpu else None,
                          workers_per_gpu=workers_per_gpu or 1)
    try:
        _check_devices(ex, devices_asked, workers_per_gpu)
    except BaseException:
        ex.shutdown()
        raise
    return ex


def _check_devices(ex: Any, asked: Any, workers_per_gpu: int | None) -> None:
    """Every device a job asks for exists where it will run (one-line errors before anything is
    written); ``workers_per_gpu`` takes effect or is refused."""
    on_gpu = [ex.device(d).startswith("cuda") for d in sorted(set(asked))]
    if workers_per_gpu is not None and (ex.name == "local" or not any(on_gpu)):
        raise ConfigError("--workers-per-gpu packs GPU runs: it needs --workers N > 1 or --executor ray, "
                          "and a study that runs on GPUs")
