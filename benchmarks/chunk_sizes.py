"""How chunks of a folder fit the embedding model: the share longer than its input window and the
share that is a bare heading, with the default chunker as ``genai kb ingest`` runs it.

    python benchmarks/chunk_sizes.py [FOLDER] [--model local:all-MiniLM-L6-v2]

Chunks are made as the ingestion pipeline makes them (:meth:`Ingestor.chunks_of`) and counted
with the model's own tokenizer (``host.count_tokens``); nothing is embedded or stored.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from genai_commons import Host
from genai_commons.knowledge import Document, Ingestor, Loader
from genai_commons.model import KnowledgeBase

#: A line that is only a Markdown heading (ATX) or a setext underline.
_HEADING_LINE = re.compile(r"^\s*(#{1,6}(\s.*)?|=+|-+)\s*$")


def bare_heading(body: str) -> bool:
    """Whether a chunk's own text (after any heading-path line) is headings only."""
    return all(_HEADING_LINE.match(line) for line in body.splitlines() if line.strip())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(Path(__file__).resolve().parents[1] / "docs"))
    parser.add_argument("--model", default="local:all-MiniLM-L6-v2")
    args = parser.parse_args()
    host = Host()
    model = host.model(args.model)
    window = model.max_input_tokens or 256
    knowledge_base = KnowledgeBase(
        provider="local", name="chunk-sizes", collection="chunk-sizes", embedding_model=model
    )
    ingestor = Ingestor(host, knowledge_base, progress=False)
    chunks = []
    headings = []
    for item in Loader().load([args.folder]):
        if isinstance(item, Document):
            for chunk in ingestor.chunks_of(item):
                chunks.append(chunk.input_text)
                headings.append(chunk.metadata.get("headings") or "")
    counts = host.count_tokens(model, chunks)
    if counts is None:
        print(f"{args.model} has no tokenizer to count with", file=sys.stderr)
        return 1
    over = sum(1 for count in counts if count > window)
    bare = 0
    for text, path in zip(chunks, headings, strict=True):
        first, _, rest = text.partition("\n")
        body = rest if path and first.endswith(path) else text  # without the heading-path line
        bare += bare_heading(body)
    total = len(chunks)
    print(f"chunks: {total}")
    print(f"over {window} model tokens: {over} ({over / total:.1%})")
    print(f"bare headings: {bare} ({bare / total:.1%})")
    print(f"largest: {max(counts)} tokens; mean {sum(counts) / total:.0f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
