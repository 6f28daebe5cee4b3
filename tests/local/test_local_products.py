"""Scores of a query against a block of rows: faiss's single-threaded kernel for small blocks,
numpy for large ones, the same numbers either way, whatever the layout of the block."""

from __future__ import annotations

import numpy as np
import pytest

from genai_commons_local import products


@pytest.mark.parametrize("rows", [0, 1, 7, 1000])
def test_small_blocks_score_as_numpy_does(rows: int) -> None:
    rng = np.random.default_rng(rows)
    matrix = rng.standard_normal((rows, 48)).astype(np.float32)
    q = rng.standard_normal(48).astype(np.float32)
    assert np.allclose(products.scores(matrix, q), matrix @ q, atol=1e-5)
    assert products.scores(matrix, q).dtype == np.float32


def test_views_and_large_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    matrix = rng.standard_normal((300, 32)).astype(np.float32)
    q = rng.standard_normal(64).astype(np.float32)[::2]  # a strided query
    every_other = matrix[::2]  # a strided block
    assert np.allclose(products.scores(every_other, q), every_other @ q, atol=1e-5)
    monkeypatch.setattr(products, "SMALL_ROWS", 100)  # numpy's product from here
    assert np.allclose(products.scores(matrix, q), matrix @ q, atol=1e-5)


@pytest.mark.parametrize("kept", [0, 1, 5, 299])
def test_scores_at_positions_match_a_gather(kept: int) -> None:
    rng = np.random.default_rng(kept)
    matrix = rng.standard_normal((300, 40)).astype(np.float32)
    q = rng.standard_normal(40).astype(np.float32)
    positions = np.sort(rng.choice(300, size=kept, replace=False)).astype(np.int64)
    assert np.allclose(products.scores_at(matrix, q, positions), matrix[positions] @ q, atol=1e-5)
