"""The directory loader does not follow symbolic links out of the directory it walks.

A tree whose files hold an ``INSIDE`` marker sits next to files and directories outside it whose
text holds an ``OUTSIDE`` marker; the tree links to them in every way a link can lead out: to a
file, to a directory, relatively through ``..``, through a chain of links, through a path that
stays inside by its letters but not once resolved, to a sibling directory whose name begins like
the root's, to a device, plus loops. Walking the tree — through :class:`Loader` and through
``genai kb ingest`` — reads every inside file, no outside text, and reports each link it did not
follow. A root that is itself a link is walked where it leads (the user named it), and its links
are judged against that real directory.

Hard links are followed, by design: a hard link is not a pointer out of the directory but another
name of the same file, made inside the directory by someone allowed to write there (and, with
Linux's ``fs.protected_hardlinks``, allowed to read and write the file). Nothing leads out of the
root, so there is nothing to refuse: the file is as much in the directory as a copy would be.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from genai_commons import Host
from genai_commons.cli import CliState, main
from genai_commons.config import Config, KnowledgeSettings
from genai_commons.knowledge.loaders import Document, Loader, Skipped
from genai_commons.testing import FakeProvider

INSIDE = "INSIDE-MARKER"
OUTSIDE = "OUTSIDE-MARKER"


def build(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """The tree ``docs`` and its surroundings; the links that must be refused, by relative path,
    with a word their reason must hold."""
    outside = tmp_path / "outside"
    (outside / "deep").mkdir(parents=True)
    (outside / "secret.txt").write_text(f"{OUTSIDE} secret file")
    (outside / "deep" / "notes.md").write_text(f"# Notes\n{OUTSIDE} in a directory")
    sibling = tmp_path / "docs-private"  # begins like the root: a prefix test would let it in
    sibling.mkdir()
    (sibling / "salaries.txt").write_text(f"{OUTSIDE} sibling")
    root = tmp_path / "docs"
    (root / "guide").mkdir(parents=True)
    (root / "index.md").write_text(f"# Index\n{INSIDE} index")
    (root / "guide" / "intro.txt").write_text(f"{INSIDE} intro")

    (root / "file-link.txt").symlink_to(outside / "secret.txt")
    (root / "dir-link").symlink_to(outside, target_is_directory=True)
    (root / "relative.txt").symlink_to(Path("..") / "outside" / "secret.txt")
    (root / "guide" / "up-two.md").symlink_to(Path("..") / ".." / "outside" / "deep" / "notes.md")
    (root / "hop-2.txt").symlink_to(outside / "secret.txt")
    (root / "hop-1.txt").symlink_to("hop-2.txt")  # inside, to a link that leads out
    (root / "lexical.txt").symlink_to("guide/../../outside/secret.txt")
    (root / "sibling.txt").symlink_to(sibling / "salaries.txt")
    (root / "sibling-dir").symlink_to(sibling, target_is_directory=True)
    (root / "device.txt").symlink_to("/dev/zero")
    (root / "root-link").symlink_to(tmp_path, target_is_directory=True)
    refused = {
        "file-link.txt": "outside",
        "dir-link": "outside",
        "relative.txt": "outside",
        "guide/up-two.md": "outside",
        "hop-2.txt": "outside",
        "hop-1.txt": "outside",
        "lexical.txt": "outside",
        "sibling.txt": "outside",
        "sibling-dir": "outside",
        "device.txt": "outside",
        "root-link": "outside",
    }
    # loops, and links that stay inside
    (root / "loop-a.txt").symlink_to("loop-b.txt")
    (root / "loop-b.txt").symlink_to("loop-a.txt")
    (root / "self.txt").symlink_to("self.txt")
    (root / "guide" / "back-to-root").symlink_to(root, target_is_directory=True)
    (root / "alias.md").symlink_to(root / "index.md")
    refused.update(
        {"loop-a.txt": "cannot read", "loop-b.txt": "cannot read", "self.txt": "cannot read",
         "guide/back-to-root": "inside the directory"}
    )  # fmt: skip
    # hidden and excluded links are left out silently, and read nothing either
    (root / ".hidden-link.txt").symlink_to(outside / "secret.txt")
    return root, refused


def split(items: list[Document | Skipped], root: Path) -> tuple[dict[str, str], dict[str, str]]:
    documents = {i.source_id: i.text for i in items if isinstance(i, Document)}
    skipped = {}
    for item in items:
        if isinstance(item, Skipped):
            source = Path(item.source)
            skipped[source.relative_to(root).as_posix() if source.is_relative_to(root) else item.source] = item.reason
    return documents, skipped


def check(documents: dict[str, str], skipped: dict[str, str], refused: dict[str, str]) -> None:
    assert sorted(documents) == ["alias.md", "guide/intro.txt", "index.md"], sorted(documents)
    assert all(INSIDE in text and OUTSIDE not in text for text in documents.values())
    for link, word in refused.items():
        assert link in skipped, f"{link} was not reported: {sorted(skipped)}"
        assert word in skipped[link], f"{link}: {skipped[link]}"
        if word == "outside":
            assert "symbolic link" in skipped[link] and "refused" in skipped[link]
    assert ".hidden-link.txt" not in skipped


@pytest.mark.timeout(30)
def test_links_out_of_the_root_are_refused_and_reported(tmp_path: Path) -> None:
    root, refused = build(tmp_path)
    documents, skipped = split(list(Loader().load([root])), root)
    check(documents, skipped, refused)


@pytest.mark.timeout(30)
def test_an_include_glob_naming_a_link_does_not_let_it_out(tmp_path: Path) -> None:
    root, _ = build(tmp_path)
    documents, skipped = split(list(Loader(include=["*.txt", "*.md"]).load([root])), root)
    assert all(OUTSIDE not in text for text in documents.values())
    assert "refused" in skipped["file-link.txt"] and "refused" in skipped["lexical.txt"]


@pytest.mark.timeout(30)
def test_a_root_that_is_a_link_is_walked_where_it_leads(tmp_path: Path) -> None:
    root, refused = build(tmp_path)
    named = tmp_path / "named-root"
    named.symlink_to(root, target_is_directory=True)
    documents, skipped = split(list(Loader().load([named])), named)
    check(documents, skipped, refused)


@pytest.mark.timeout(30)
def test_hard_links_are_files_of_the_directory(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    outside = tmp_path / "elsewhere.txt"
    outside.write_text(f"{OUTSIDE} reached through a hard link")
    try:
        os.link(outside, root / "hard.txt")
    except OSError as exc:  # a file system without hard links
        pytest.skip(f"no hard links here: {exc}")
    documents, skipped = split(list(Loader().load([root])), root)
    assert documents == {"hard.txt": f"{OUTSIDE} reached through a hard link"} and not skipped


@pytest.mark.timeout(60)
@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_genai_kb_ingest_reads_nothing_outside_and_reports_each_link(tmp_path: Path, as_json: bool) -> None:
    root, refused = build(tmp_path)
    fake = FakeProvider()
    knowledge = KnowledgeSettings(default_provider="fake", default_embedding_model="fake:embed")
    host = Host(Config.defaults(tmp_path / "home", knowledge=knowledge), load_entry_points=False, plugins=[fake])
    try:
        args = ["kb", "ingest", "notes", str(root), *(["--json"] if as_json else [])]
        result = CliRunner().invoke(main, args, obj=CliState(host=host))
        assert result.exit_code == 0, result.output
        stored = fake.stored("notes")
        assert stored, "the inside files were ingested"
        assert all(OUTSIDE not in c.input_text for c in stored)
        assert {c.source_id for c in stored} == {"alias.md", "guide/intro.txt", "index.md"}
        if as_json:
            reported = {
                Path(s["source"]).relative_to(root).as_posix(): s["reason"]
                for s in json.loads(result.stdout)["skipped"]
            }
        else:
            lines = [
                line.removeprefix("skipped ") for line in result.stderr.splitlines() if line.startswith("skipped ")
            ]
            reported = {}
            for line in lines:
                source, _, reason = line.partition(": ")
                reported[Path(source).relative_to(root).as_posix()] = reason
        for link, word in refused.items():
            assert word in reported.get(link, ""), f"{link} not reported: {reported.get(link)!r}"
        assert OUTSIDE not in result.output
    finally:
        host.close()
