"""Loaders: formats, directory walks, globs, symbolic links, and per-file reports of what was skipped."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from genai_commons.errors import ValidationError
from genai_commons.knowledge.loaders import Document, DocumentFormat, Loader, RecordFields, Skipped, load_records


def documents(items: list[Document | Skipped]) -> dict[str, Document]:
    return {item.source_id: item for item in items if isinstance(item, Document)}


def skipped(items: list[Document | Skipped]) -> dict[str, str]:
    return {Path(item.source).name: item.reason for item in items if isinstance(item, Skipped)}


@pytest.fixture
def tree(tmp_path: Path, make_pdf: Callable[..., bytes]) -> Path:
    root = tmp_path / "notes"
    (root / "guide").mkdir(parents=True)
    (root / "guide" / "intro.md").write_text("---\ntitle: The Intro\n---\n# Heading\n\nSome words.\n")
    (root / "plain.txt").write_text("Just text.\r\nSecond line.\r\n")
    (root / "page.html").write_text(
        "<html><head><title>A &amp; B</title><style>p{color:red}</style><script>alert(1)</script></head>"
        "<body><h1>Big</h1><p>First <b>bold</b>\n  paragraph.</p><pre>code\n  indented</pre>"
        "<p>caf&eacute;<br>next</p><img alt='a chart'></body></html>"
    )
    (root / "report.pdf").write_bytes(make_pdf(["Page one words", "Page two words"], title="Yearly Report"))
    (root / "rows.jsonl").write_text(
        "\n".join(
            [
                json.dumps(
                    {"id": "a-1", "text": "Row one", "title": "First row", "team": "blue", "url": "https://x/a-1"}
                ),
                "",
                json.dumps({"text": "Row without id", "team": {"name": "red"}}),
                "{not json",
                json.dumps({"id": "a-3", "body": "wrong field"}),
                json.dumps(["a list"]),
            ]
        )
    )
    (root / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (root / ".hidden").mkdir()
    (root / ".hidden" / "secret.md").write_text("# hidden")
    return root


def test_a_directory_walk_reads_every_format_with_stable_relative_source_ids(tree: Path) -> None:
    items = list(Loader(records=RecordFields(metadata=("team",))).load([tree]))
    docs = documents(items)
    # in name order, a directory's files before its subdirectories
    assert list(docs) == [
        "page.html", "plain.txt", "report.pdf", "rows.jsonl#a-1", "rows.jsonl#3", "guide/intro.md",
    ]  # fmt: skip
    intro = docs["guide/intro.md"]
    assert intro.format is DocumentFormat.MARKDOWN and intro.title == "The Intro"
    assert intro.text == "# Heading\n\nSome words.\n", "front matter is not part of the text"
    assert intro.metadata.as_dict() == {"path": "guide/intro.md", "sourceUrl": (tree / "guide/intro.md").as_uri()}
    assert intro.source_type == "file" and intro.human_readable_id == "guide/intro.md"
    assert docs["plain.txt"].text == "Just text.\nSecond line.\n" and docs["plain.txt"].title == "plain"

    page = docs["page.html"]
    assert page.title == "A & B"
    assert page.text == "Big\n\nFirst bold paragraph.\n\ncode\n  indented\n\ncafé next\n\na chart"

    pdf = docs["report.pdf"]
    assert pdf.title == "Yearly Report" and pdf.format is DocumentFormat.PDF
    assert pdf.text == "Page one words\n\nPage two words"
    assert pdf.page_at(0) == 1 and pdf.page_at(pdf.text.index("Page two")) == 2

    row = docs["rows.jsonl#a-1"]
    assert (row.text, row.title, row.human_readable_id, row.source_type) == (
        "Row one",
        "First row",
        "First row",
        "record",
    )
    assert row.metadata.as_dict() == {"path": "rows.jsonl", "sourceUrl": "https://x/a-1", "team": "blue"}
    assert docs["rows.jsonl#3"].metadata.get("team") == '{"name": "red"}', "objects are kept as JSON"
    assert docs["rows.jsonl#3"].metadata.get("sourceUrl") == (tree / "rows.jsonl").as_uri()

    reasons = {item.source: item.reason for item in items if isinstance(item, Skipped)}
    assert reasons[f"{tree / 'rows.jsonl'}:4"].startswith("not valid JSON")
    assert "has no text field 'text'" in reasons[f"{tree / 'rows.jsonl'}:5"]
    assert "JSON object" in reasons[f"{tree / 'rows.jsonl'}:6"]
    assert "unsupported file type '.png'" in reasons[str(tree / "image.png")]
    assert not any("secret" in source for source in reasons), "hidden names are left out silently"


def test_include_and_exclude_globs(tree: Path) -> None:
    only_markdown = documents(list(Loader(include=["*.md"]).load([tree])))
    assert list(only_markdown) == ["guide/intro.md"]
    without_guide = documents(list(Loader(exclude=["guide"]).load([tree])))
    assert "guide/intro.md" not in without_guide and "plain.txt" in without_guide
    anchored = documents(list(Loader(exclude=["guide/*.md", "*.jsonl", "**/page.html"]).load([tree])))
    assert sorted(anchored) == ["plain.txt", "report.pdf"]
    hidden = documents(list(Loader(include_hidden=True, include=["*.md"]).load([tree])))
    assert ".hidden/secret.md" in hidden


def test_an_included_file_of_unknown_type_is_read_as_text(tmp_path: Path) -> None:
    (tmp_path / "script.py").write_text("print('hi')\n")
    assert documents(list(Loader(include=["*.py"]).load([tmp_path])))["script.py"].text == "print('hi')\n"
    assert "unsupported" in skipped(list(Loader().load([tmp_path])))["script.py"]


def test_base_url_makes_the_source_links(tree: Path) -> None:
    docs = documents(list(Loader(base_url="https://docs.example.com/site/").load([tree / "guide"])))
    assert docs["intro.md"].metadata.get("sourceUrl") == "https://docs.example.com/site/intro.md"


def test_a_file_named_directly_is_read_by_its_name_whatever_its_extension(tmp_path: Path) -> None:
    (tmp_path / "NOTES").write_text("no extension here")
    items = list(Loader().load([tmp_path / "NOTES", tmp_path / "missing.md"]))
    assert documents(items)["NOTES"].text == "no extension here"
    assert skipped(items) == {"missing.md": "no such file or directory"}


def test_symbolic_links_out_of_the_root_are_refused_and_reported(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("do not read me")
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    (root / "real" / "inside.txt").write_text("inside text")
    (root / "leak.txt").symlink_to(outside / "secret.txt")
    (root / "leakdir").symlink_to(outside, target_is_directory=True)
    (root / "alias.txt").symlink_to(root / "real" / "inside.txt")
    (root / "alias-dir").symlink_to(root / "real", target_is_directory=True)
    (root / "loop.txt").symlink_to(root / "loop.txt")
    items = list(Loader().load([root]))
    docs = documents(items)
    assert sorted(docs) == ["alias.txt", "real/inside.txt"]
    assert all("do not read me" not in d.text for d in docs.values())
    reasons = skipped(items)
    assert "outside" in reasons["leak.txt"] and "refused" in reasons["leak.txt"]
    assert "outside" in reasons["leakdir"] and "refused" in reasons["leakdir"]
    assert "read where it lies" in reasons["alias-dir"]
    assert reasons["loop.txt"].startswith("cannot read"), "an unreadable file is reported, the rest goes on"


def test_binary_empty_undecodable_oversized_and_special_files_are_skipped(tmp_path: Path) -> None:
    (tmp_path / "binary.txt").write_bytes(b"text\x00\x01\x02 more")
    (tmp_path / "empty.md").write_bytes(b"")
    (tmp_path / "blank.md").write_text("  \n\n\t\n")
    (tmp_path / "latin.txt").write_bytes("caf\xe9".encode("latin-1"))
    (tmp_path / "big.txt").write_text("word " * 300)
    (tmp_path / "good.txt").write_text("fine")
    os.mkfifo(tmp_path / "pipe.txt")
    items = list(Loader(max_file_bytes=1000).load([tmp_path]))
    assert list(documents(items)) == ["good.txt"]
    reasons = skipped(items)
    assert reasons["binary.txt"].startswith("binary content")
    assert reasons["empty.md"] == "empty file" and reasons["blank.md"] == "empty file"
    assert reasons["latin.txt"].startswith("not UTF-8 text (byte 0xe9 at offset 3)")
    assert "more than the limit of 1,000" in reasons["big.txt"]
    assert reasons["pipe.txt"] == "not a regular file"
    latin = documents(list(Loader(encoding="latin-1").load([tmp_path / "latin.txt"])))
    assert latin["latin.txt"].text == "café"


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their permissions")
def test_a_file_without_read_permission_is_reported(tmp_path: Path) -> None:
    locked = tmp_path / "locked.txt"
    locked.write_text("secret")
    locked.chmod(0)
    try:
        assert skipped(list(Loader().load([tmp_path])))["locked.txt"].startswith("cannot read")
    finally:
        locked.chmod(0o600)


def test_a_large_file_under_the_limit_loads_whole(tmp_path: Path) -> None:
    paragraph = "A sentence of several words to fill the file. " * 20
    (tmp_path / "large.md").write_text("\n\n".join(f"## Part {i}\n\n{paragraph}" for i in range(2000)))
    (document,) = documents(list(Loader().load([tmp_path]))).values()
    assert len(document.text) > 1_800_000 and document.text.count("## Part") == 2000


def test_pdf_problems_are_reported(tmp_path: Path, make_pdf: Callable[..., bytes]) -> None:
    (tmp_path / "locked.pdf").write_bytes(make_pdf(["secret"], password="pw"))
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\nnonsense")
    (tmp_path / "scan.pdf").write_bytes(make_pdf([""]))
    (tmp_path / "fake.pdf").write_bytes(b"\x00\x01binary, not a pdf")
    reasons = skipped(list(Loader().load([tmp_path])))
    assert reasons["locked.pdf"].startswith("encrypted PDF")
    assert reasons["broken.pdf"].startswith("not a readable PDF")
    assert reasons["scan.pdf"].startswith("no text in the PDF")
    assert reasons["fake.pdf"].startswith("not a PDF file")


def test_html_in_a_declared_charset(tmp_path: Path) -> None:
    markup = '<html><head><meta charset="iso-8859-1"><title>Caf\xe9</title></head><body><p>cr\xe8me</p></body></html>'
    (tmp_path / "old.html").write_bytes(markup.encode("latin-1"))
    (document,) = documents(list(Loader().load([tmp_path]))).values()
    assert (document.title, document.text) == ("Café", "crème")


def test_an_html_page_without_title_is_named_by_its_first_heading(tmp_path: Path) -> None:
    (tmp_path / "x.htm").write_text("<h1>Main <i>title</i></h1><div>body</div>")
    assert documents(list(Loader().load([tmp_path])))["x.htm"].title == "Main title"


def test_two_directories_with_the_same_relative_path_do_not_overwrite_each_other(tmp_path: Path) -> None:
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "readme.md").write_text(f"# {name}")
    items = list(Loader().load([tmp_path / "a", tmp_path / "b"]))
    assert documents(items)["readme.md"].text == "# a"
    assert "same source id 'readme.md'" in skipped(items)["readme.md"]


def test_in_memory_records() -> None:
    records = [
        {"id": 7, "text": "Seven", "kind": "ticket", "title": "Ticket 7"},
        {"text": "No id"},
        {"id": 9, "text": "   "},
        "not a record",
    ]
    fields = RecordFields(metadata=["kind"], source_type="Support.Ticket")
    items = list(load_records(records, fields, prefix="tickets"))
    docs = documents(items)
    assert list(docs) == ["tickets#7", "tickets#2"]
    assert docs["tickets#7"].source_type == "Support.Ticket" and docs["tickets#7"].human_readable_id == "Ticket 7"
    assert docs["tickets#7"].metadata.as_dict() == {"kind": "ticket"}
    assert [(s.source, s.reason) for s in items if isinstance(s, Skipped)] == [
        ("tickets#3", "record's text field 'text' is empty"),
        ("tickets#4", "a record is a JSON object, got str"),
    ]
    assert list(documents(list(load_records([{"body": "x"}], RecordFields(text="body", id=None))))) == ["1"]


def test_record_fields_refuse_a_single_string_for_a_list() -> None:
    with pytest.raises(ValidationError, match="list of strings"):
        RecordFields(metadata="kind")
