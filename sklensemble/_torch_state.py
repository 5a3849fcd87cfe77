"""The guard of torch's process-wide random generators.

torch draws weight initialisation and dropout masks from one global
generator per device, shared by every thread of the process. Two seeded fits
running side by side (a threaded search, an ensemble inside one) would
interleave their draws, and each would leave the other's stream, and the
caller's, moved on. Here every fit owns a :class:`GeneratorStream`: its
generator states, seeded once, swapped into the global generators under one
process-wide lock only while the fit draws, then swapped back out. A fit
therefore draws exactly the numbers it would draw alone, and the global
generators end as they began.

The lock is held around the draws, not the whole fit: a network draws in
module initialisation and in the forward pass of each training batch
(dropout), while the backward pass and the optimiser step, most of the work,
run unlocked. Fits that never touch torch (the boosters) never take it.
Serialising whole network fits instead would be simpler, but would run the
networks of a threaded search one after another. Code outside the package
that draws from torch's global generators in another thread does not take
the lock: it can still meet a fit's stream.

torch's intra-op thread count is left alone, on purpose. A fit's floats
depend on it (CPU kernels split their sums by thread), and
``torch.set_num_threads`` sets both the calling thread's count and the
default of threads started later: a fit changing it would change the
results of whatever starts beside it. Seeded fits are reproducible for a
given thread count, the one in effect where they run (new threads inherit
the last one set); the package never changes it.
"""

import threading
from contextlib import contextmanager

import torch

# One lock for the whole process: every draw from torch's global generators
# made on the package's behalf happens while holding it. Re-entrant, so a
# guarded section may call another guarded section of the same thread.
_LOCK = threading.RLock()


class GeneratorStream:
    """A fit's private states of torch's global generators.

    Parameters
    ----------
    seed : int
        Seeds the CPU generator and that of every device in ``devices``, as
        ``torch.manual_seed`` would.
    devices : list of int, default=()
        CUDA device indices whose generators the fit draws from.
    """

    def __init__(self, seed, devices=()):
        self.devices = list(devices)
        self._states = [torch.Generator().manual_seed(seed).get_state()] + [
            torch.Generator(device=f"cuda:{index}").manual_seed(seed).get_state()
            for index in self.devices
        ]
        self._outer = None  # the global states while this stream is active
        self._depth = 0

    def _read(self):
        return [torch.get_rng_state()] + [
            torch.cuda.get_rng_state(index) for index in self.devices
        ]

    def _write(self, states):
        torch.set_rng_state(states[0])
        for index, state in zip(self.devices, states[1:], strict=True):
            torch.cuda.set_rng_state(state, index)

    def enter(self):
        """Take the lock and put this stream's states into the generators."""
        _LOCK.acquire()
        self._depth += 1
        if self._depth == 1:
            self._outer = self._read()
            self._write(self._states)

    def leave(self):
        """Keep the stream's progress, restore the generators, free the lock."""
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0:
            self._states = self._read()
            self._write(self._outer)
            self._outer = None
        _LOCK.release()

    @contextmanager
    def active(self):
        """The block draws from this stream (e.g. module initialisation)."""
        self.enter()
        try:
            yield
        finally:
            self.leave()

    @contextmanager
    def during_training_passes(self, module):
        """Every forward pass of ``module`` in training mode draws from this stream.

        Hooks on ``module`` bracket each such pass; evaluation passes draw
        nothing and run unlocked. A pass cut short by ``KeyboardInterrupt``
        (which skips torch's closing hooks) is closed on leaving the block.
        """

        def before(mod, args):
            if mod.training:
                self.enter()

        def after(mod, args, output):
            self.leave()

        handles = [
            module.register_forward_pre_hook(before),
            module.register_forward_hook(after, always_call=True),
        ]
        try:
            yield
        finally:
            for handle in handles:
                handle.remove()
            while self._depth:
                self.leave()


@contextmanager
def global_generators_locked():
    """Draw from torch's global generators in the block, then restore them.

    For draws whose values do not matter (a module built only to receive
    stored weights): the lock keeps concurrent fits' streams out of the way.
    """
    with _LOCK, torch.random.fork_rng(devices=[]):
        yield
