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
