"""The scores of a query against a block of rows: :func:`scores`, on one thread when the block is small.

numpy's matrix products run on BLAS (OpenBLAS in numpy's wheels), which splits even a product of a
few thousand rows across every core. On a machine whose cores are busy — another process writing
to the store, the host's other threads — a query then waits for the slowest of those threads:
measured on 2 shared cores at a million chunks, a reader's p99 went from 9.6 ms idle to 31.6 ms
while another process ingested 2,000 chunks a second, nearly all of it in the products over the
rows not yet in the graph (a few segments of at most 8,192 rows); with those products on one
thread, 9.4 to 9.9 ms. A product of 8,192 rows of 384 dimensions takes 0.43 ms on one thread (0.24 ms on
two when the machine is quiet), so threading it saves little. BLAS's thread count is
process-wide, and OpenBLAS ignores a change made from any thread but the first to make one, so
small blocks are scored by faiss's single-threaded SIMD kernel (``fvec_inner_products_ny``)
instead; large scans (a base of a million rows, memory-bound) keep numpy and every thread.

The rows a narrow filter keeps are scored where they lie (:func:`scores_at`, faiss's
``fvec_inner_products_by_idx``) rather than gathered into a new matrix first: measured on a
million rows of 384 dimensions, 1.0 ms for the 11,200 rows of a 1 % filter against 5.9 ms for
numpy's gather and product.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = ["SMALL_ROWS", "faiss", "scores", "scores_at"]

#: Blocks of fewer rows than this are scored on one thread.
SMALL_ROWS = 65_536


def faiss() -> Any:
    """The faiss module, imported on first use (it is heavy; a store without a base never needs it)."""
    import faiss as module  # noqa: PLC0415

    return module


def scores(matrix: NDArray[np.float32], q: NDArray[np.float32]) -> NDArray[np.float32]:
    """``matrix @ q`` (float32 rows, one float32 query)."""
    rows = matrix.shape[0]
    if rows >= SMALL_ROWS or rows == 0:
        result: NDArray[np.float32] = matrix @ q
        return result
    module = faiss()
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    q = np.ascontiguousarray(q, dtype=np.float32)
    out = np.empty(rows, dtype=np.float32)
    module.fvec_inner_products_ny(
        module.swig_ptr(out), module.swig_ptr(q), module.swig_ptr(matrix), matrix.shape[1], rows
    )
    return out


def scores_at(matrix: NDArray[np.float32], q: NDArray[np.float32], positions: NDArray[np.int64]) -> NDArray[np.float32]:
    """``matrix[positions] @ q`` without gathering the rows (one thread; ``matrix`` C-contiguous)."""
    module = faiss()
    matrix = np.ascontiguousarray(matrix, dtype=np.float32)
    q = np.ascontiguousarray(q, dtype=np.float32)
    positions = np.ascontiguousarray(positions, dtype=np.int64)
    out = np.empty(positions.shape[0], dtype=np.float32)
    module.fvec_inner_products_by_idx(
        module.swig_ptr(out),
        module.swig_ptr(q),
        module.swig_ptr(matrix),
        module.swig_ptr(positions),
        matrix.shape[1],
        1,
        positions.shape[0],
    )
    return out
