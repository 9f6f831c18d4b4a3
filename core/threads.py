"""One thread policy for the whole project: one thread per matrix product.

The networks here are small and a server computes for many sessions at once: a second OpenBLAS or
torch thread per product only waits for the first, and on a busy CPU the waiting threads spin against
each other (NumPy vs PyTorch on the digits, 100 steps in each precision: 23 s with the default threads,
0.5 s with one each; a Hessian-vector product of a 101,770-parameter net: 60–130 ms on two threads when
another process holds a core, 7 ms on one).

``limit_process()`` sets it once for a process (the app's entrypoint and the tests call it before
anything computes); ``one_thread()`` holds it around a block in a process that has not (the CLI,
benchmarks, a notebook) and restores what was there.
"""

import contextlib
import os
import sys

_LIMITED = False
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def limit_process():
    """One thread from now on, set once per process (later calls return at once): the environment variables
    that torch and every BLAS loaded later read when they load, and every BLAS already loaded (NumPy's,
    SciPy's OpenBLAS), limited in place."""
    global _LIMITED
    if _LIMITED:
        return
    _LIMITED = True
    for name in THREAD_VARIABLES:
        os.environ.setdefault(name, "1")
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=1, user_api="blas")
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "set_num_threads"):  # a torch still being imported reads OMP_NUM_THREADS
        torch.set_num_threads(1)


@contextlib.contextmanager
def one_thread(enabled=True, torch=False):
    """One BLAS thread and one torch thread while the block runs, restored after it.

    torch is held where it is imported already; ``torch=True`` imports it first, for a block that uses it
    (imported inside the block, it would start with its own default number of threads).
    """
    if not enabled:
        yield
        return
    from threadpoolctl import threadpool_limits

    if torch:
        import torch as _  # noqa: F401
    torch = sys.modules.get("torch")
    n_threads = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            yield
    finally:
        if n_threads is not None:
            torch.set_num_threads(n_threads)
