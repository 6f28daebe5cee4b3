"""A collection's base on disk: its rows as a faiss index, written by the maintainer, read by every process.

Beside the database, one folder per collection (named by the collection's random uid)::

    <database>-index/<uid>/
        CURRENT                 the generation to read, written last (a rename: readers see
                                the old number or the new, never a torn one)
        <generation>/vectors.npy   the rows' unit vectors, float32, in row-id order (numpy's format:
                                   its data starts 64-byte aligned, so numpy maps and scores it at
                                   full speed)
        <generation>/graph.faiss   HNSW only: the graph with its own copy of the vectors
                                   (``IndexHNSWFlat``, inner product), faiss's own format
        <generation>/rows.npz      row ids (position -> store row id), which are live, the metadata
                                   columns and value strings, and the store state the base was built
                                   from (collection version, highest row id, newest tombstone)
        .lock                      held by the one process maintaining the folder

Nothing is read into memory: a base is *mapped*. Exact search maps ``vectors.npy`` (numpy),
and an HNSW base maps ``graph.faiss`` too (faiss's ``IO_FLAG_MMAP_IFC``: the graph's links are
read, its vectors stay in the file), so a new process answers its first query in milliseconds
instead of the seconds that reading 1.5 GB (a million vectors) into fresh memory takes, and every
process shares one copy in the page cache. The vectors are on disk twice for an HNSW base: faiss
maps them where its file format puts them, at an offset that is not a multiple of four bytes,
and numpy scores an unaligned float32 array five times slower (it leaves such arrays to its own
loops instead of BLAS), so exact search reads the aligned copy in ``vectors.npy``. A process
touches the graph's copy when it walks the graph and the other when it searches exactly; one
that only walks the graph (the usual case at this size) holds one. The maintainer reads a
generation it extends into its own memory (:func:`load` with ``writable``). A generation is
never changed once ``CURRENT`` names it; the maintainer removes generations older than the one before the current.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np

from genai_commons import get_logger

from .columns import Columns, Values, pack_strings, unpack_strings
from .products import faiss
from .segments import Segment

if TYPE_CHECKING:
    from numpy.typing import NDArray

log = get_logger(__name__)

HNSW = "hnsw"
FLAT = "flat"
_STATE = ("version", "last_row", "last_tombstone", "dimension", "m", "ef_construction", "graph_bytes")


@dataclass(frozen=True, eq=False)
class Header:
    """What a generation holds, without its vectors or graph: enough to decide whether it is due
    for maintenance (:func:`header`)."""

    generation: int
    kind: str
    version: int
    last_row: int
    last_tombstone: int
    dimension: int
    m: int
    ef_construction: int
    #: The size of ``graph.faiss`` as written (0: none), checked before it is used.
    graph_bytes: int
    ids: NDArray[np.int64]
    live: NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class Base(Header):
    """A generation of a collection's base, loaded: its header, its rows and their metadata values."""

    segment: Segment
    values: Values


def folder(root: Path, uid: str) -> Path:
    return root / uid


def current(root: Path, uid: str) -> int:
    """The generation ``CURRENT`` names (0 when the collection has no base)."""
    try:
        return int((folder(root, uid) / "CURRENT").read_text(encoding="ascii").strip() or 0)
    except (OSError, ValueError):
        return 0


def vectors_of(index: Any) -> NDArray[np.float32]:
    """The vectors a faiss flat or HNSW-flat index holds, as a numpy view of its memory (no copy)."""
    module = faiss()
    storage = module.downcast_index(index.storage if hasattr(index, "storage") else index)
    count, dimension = int(storage.ntotal), int(storage.d)
    if count == 0:
        return np.empty((0, dimension), dtype=np.float32)
    view = module.rev_swig_ptr(storage.get_xb(), count * dimension)
    return np.asarray(view).reshape(count, dimension)


def header(root: Path, uid: str, dimension: int) -> Header | None:
    """The current generation's header, or None (none, another dimension, unreadable)."""
    return _read(root, uid, dimension, full=False)[0]


def load(root: Path, uid: str, dimension: int, *, writable: bool = False) -> Base | None:
    """The current generation of the collection's base, or None (none, another dimension, unreadable):
    mapped, or with ``writable`` an HNSW graph read into memory of its own (to extend it)."""
    head, columns, values = _read(root, uid, dimension, full=True)
    if head is None or columns is None or values is None:
        return None
    path = folder(root, uid) / str(head.generation)
    graph: Any = None
    try:
        matrix = np.load(path / "vectors.npy", mmap_mode="r", allow_pickle=False)
        if head.kind == HNSW:
            graph = _graph(path, writable=writable)
            if graph.ntotal != head.ids.size:
                raise ValueError(f"the graph holds {graph.ntotal} rows, the base {head.ids.size}")
    except (OSError, ValueError, KeyError, RuntimeError) as exc:  # removed meanwhile, or damaged
        log.warning("index_unreadable", path=str(path), error=str(exc))
        return None
    if matrix.shape != (head.ids.size, dimension) or columns.size != head.ids.size:
        log.warning("index_unreadable", path=str(path), error="size mismatch")
        return None
    live = head.live
    segment = Segment(
        ids=head.ids, matrix=matrix, columns=columns, live=None if bool(live.all()) else live, graph=graph, owner=graph
    )
    return Base(**{f.name: getattr(head, f.name) for f in fields(Header)}, segment=segment, values=values)


def _read(root: Path, uid: str, dimension: int, *, full: bool) -> tuple[Header | None, Columns | None, Values | None]:
    """The current generation's ``rows.npz``: its header, and with ``full`` its metadata columns and values."""
    generation = current(root, uid)
    if generation == 0:
        return None, None, None
    path = folder(root, uid) / str(generation)
    columns = values = None
    try:
        with np.load(path / "rows.npz", allow_pickle=False) as data:
            state = dict(zip(_STATE, (int(x) for x in data["state"]), strict=True))
            head = Header(
                generation=generation,
                kind=str(data["kind"]),
                ids=np.asarray(data["ids"], dtype=np.int64),
                live=np.asarray(data["live"], dtype=bool),
                **state,
            )
            if head.dimension != dimension:
                return None, None, None
            # the other files are there, as large as the header says
            with (path / "vectors.npy").open("rb") as file:
                if _vectors_shape(file, dimension)[0] != head.ids.size:
                    raise ValueError("vectors.npy holds another number of rows")
            if head.kind == HNSW and (path / "graph.faiss").stat().st_size != head.graph_bytes:
                raise ValueError("graph.faiss is not the size it was written")
            if full:
                columns = Columns.from_arrays({k[8:]: data[k] for k in data.files if k.startswith("columns.")})
                values = Values.of(unpack_strings(data["value_bytes"], data["value_ends"]))
    except (OSError, ValueError, KeyError) as exc:  # removed meanwhile, or damaged
        log.warning("index_unreadable", path=str(path), error=str(exc))
        return None, None, None
    if head.live.size != head.ids.size:
        log.warning("index_unreadable", path=str(path), error="size mismatch")
        return None, None, None
    return head, columns, values


def _graph(path: Path, *, writable: bool) -> Any:
    """The HNSW graph of a generation, its vectors mapped from the file (or read, when ``writable``)."""
    module = faiss()
    graph = module.read_index(str(path / "graph.faiss"), 0 if writable else module.IO_FLAG_MMAP_IFC)
    if graph.storage is None:  # a graph written without its vectors (an earlier layout): build anew
        raise ValueError("graph.faiss holds no vectors")
    return graph


def _vectors_shape(file: BinaryIO, dimension: int) -> tuple[int, int]:
    """The shape ``vectors.npy``'s header gives (the file is left at the start of its data)."""
    major, _ = np.lib.format.read_magic(file)
    read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
    shape, fortran, dtype = read_header(file)
    if fortran or dtype != np.dtype("<f4") or len(shape) != 2 or shape[1] != dimension:
        raise ValueError(f"vectors.npy holds {dtype} {shape}, not float32 rows of {dimension}")
    return int(shape[0]), int(shape[1])


def write(
    root: Path,
    uid: str,
    *,
    kind: str,
    graph: Any,
    matrix: NDArray[np.float32],
    ids: NDArray[np.int64],
    live: NDArray[np.bool_],
    columns: Columns,
    values: Values,
    state: dict[str, int],
) -> int:
    """Write a new generation and make it current; its number."""
    module = faiss()
    base = folder(root, uid)
    base.mkdir(parents=True, exist_ok=True)
    generation = max(current(root, uid), *_generations(base), 0) + 1
    temporary = base / f".{generation}.{os.getpid()}.{threading.get_ident()}"
    temporary.mkdir()
    try:
        np.save(temporary / "vectors.npy", matrix, allow_pickle=False)
        state = {**state, "graph_bytes": 0}
        if kind == HNSW:
            module.write_index(graph, str(temporary / "graph.faiss"))
            state["graph_bytes"] = (temporary / "graph.faiss").stat().st_size
        value_bytes, value_ends = pack_strings(values.strings())
        arrays: dict[str, Any] = {f"columns.{k}": v for k, v in columns.to_arrays().items()}
        with (temporary / "rows.npz").open("wb") as file:
            np.savez(
                file,
                state=np.array([state[name] for name in _STATE], dtype=np.int64),
                kind=np.array(kind),
                ids=ids,
                live=live,
                value_bytes=value_bytes,
                value_ends=value_ends,
                **arrays,
            )
        os.replace(temporary, base / str(generation))
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise
    pointer = base / f".CURRENT.{os.getpid()}.{threading.get_ident()}"
    pointer.write_text(str(generation), encoding="ascii")
    os.replace(pointer, base / "CURRENT")
    for old in _generations(base):
        if old < generation - 1:
            shutil.rmtree(base / str(old), ignore_errors=True)
    remove_legacy(root, uid)
    log.info("index_written", uid=uid, kind=kind, generation=generation, rows=int(ids.size))
    return generation


def remove(root: Path, uid: str) -> None:
    """Delete a collection's base folder (its collection was dropped)."""
    shutil.rmtree(folder(root, uid), ignore_errors=True)


def remove_legacy(root: Path, uid: str) -> None:
    """Delete what versions before this layout kept for the collection (``<database>-hnsw/<uid>.npz``),
    and that folder once empty: a base of this layout replaces it."""
    legacy = root.with_name(root.name.removesuffix("-index") + "-hnsw")
    (legacy / f"{uid}.npz").unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # absent, or other collections' files are still there
        legacy.rmdir()


def _generations(base: Path) -> list[int]:
    return [int(p.name) for p in base.iterdir() if p.name.isdigit()] if base.is_dir() else []
