"""numpy's BLAS (OpenBLAS) runs on the calling thread only, in the serving process.

The request path multiplies small matrices (a candidate problem's questions by the
query vector: tens of rows). OpenBLAS splits any product over ~9,000 elements across
its worker threads, and those workers then spin waiting for more work: on a 2-core
machine they took ~3 ms of CPU a request from the thread serving it. One thread is
as fast for these sizes; the ONNX runtime and Chroma keep their own threads.
"""

from __future__ import annotations

import logging

from threadpoolctl import threadpool_limits

log = logging.getLogger(__name__)


def single_threaded_blas() -> None:
    """Limit every loaded BLAS library to one thread, for the rest of the process."""
    threadpool_limits(limits=1, user_api="blas")
    log.debug("numpy BLAS limited to one thread")
