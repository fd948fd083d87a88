"""Explicit random generators derived from a run seed and a named purpose (design rule 6).

Every consumer of randomness (init, data order, augmentation, random criterion, ...) asks for a
generator by purpose; the seed it gets is a hash of (run seed, purpose), so adding a new consumer never
shifts the random stream of another, and nothing touches torch's global RNG.
"""
from __future__ import annotations

import contextlib
import hashlib
from typing import Iterator

import torch


def derive_seed(seed: int, purpose: str) -> int:
    digest = hashlib.sha256(f"{int(seed)}/{purpose}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def generator(seed: int, purpose: str, device: str | torch.device = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(derive_seed(seed, purpose))
    return g


@contextlib.contextmanager
def seeded(seed: int, purpose: str) -> Iterator[None]:
    """Run code that only knows torch's global RNG (module ``reset_parameters``) from a derived seed,
    restoring the global state afterwards."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(seed, purpose))
        yield
