import signal

import numpy as np
import pytest
import torch


@pytest.fixture
def seeded_one_thread():
    """Seed numpy and torch; run torch on one thread, then restore the count.

    Tiny networks gain nothing from intra-op threads, and one thread keeps
    their timings steady on busy shared machines. Modules opt in with
    ``pytestmark = pytest.mark.usefixtures("seeded_one_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    np.random.seed(0)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def ctrl_c_raises():
    """SIGINT raises KeyboardInterrupt here, as in a terminal, then is restored.

    A test runner started in the background of a non-interactive shell
    inherits SIGINT ignored; tests of Ctrl-C must not depend on that.
    """
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)
