"""Reading inputs from disk: files, directories, mbox, maildir and JSON Lines."""

from __future__ import annotations

import mailbox
from pathlib import Path

from processor.intake.sources import read_bytes, read_inputs, split_mbox

BOUNCE = b"From: MAILER-DAEMON@x.example\nSubject: failure notice\n\n<a@example.org>:\n550 no\n"


def test_jsonl_file_gives_one_input_per_line(tmp_path: Path) -> None:
    path = tmp_path / "records.jsonl"
    path.write_bytes(b'{"recipient": "a@example.org"}\n\n{"recipient": "b@example.org"}\n')

    inputs = list(read_inputs(str(path)))

    assert [(i.source, i.format) for i in inputs] == [(f"{path}:1", "json"), (f"{path}:3", "json")]


def test_mbox_is_split_into_messages(tmp_path: Path) -> None:
    path = tmp_path / "bounces.mbox"
    box = mailbox.mbox(path)
    box.add(BOUNCE)
    box.add(BOUNCE.replace(b"a@example.org", b"b@example.org"))
    box.close()

    inputs = list(read_inputs(str(path)))

    assert [i.source for i in inputs] == [f"{path}:1", f"{path}:2"]
    assert b"b@example.org" in inputs[1].data and not inputs[1].data.startswith(b"From ")


def test_single_message_with_an_mbox_from_line_keeps_its_source_name() -> None:
    inputs = list(read_bytes("x.eml", b"From MAILER-DAEMON Thu Apr 29 2015\n" + BOUNCE))

    assert [(i.source, i.data) for i in inputs] == [("x.eml", BOUNCE)]


def test_from_at_line_start_in_a_body_does_not_split() -> None:
    data = b"From a Thu Apr 29 2015\n" + BOUNCE + b"\nFrom here on, text.\n"

    assert len(split_mbox(data)) == 1


def test_maildir_and_directory_walks(tmp_path: Path) -> None:
    maildir = mailbox.Maildir(tmp_path / "md")
    maildir.add(BOUNCE)
    (tmp_path / "dir").mkdir()
    (tmp_path / "dir" / "one.eml").write_bytes(BOUNCE)
    (tmp_path / "dir" / "notes.md").write_text("ignored")

    from_maildir = list(read_inputs(str(tmp_path / "md")))
    from_dir = list(read_inputs(str(tmp_path / "dir")))

    assert len(from_maildir) == 1 and from_maildir[0].data == BOUNCE
    assert [Path(i.source).name for i in from_dir] == ["one.eml"]


def test_missing_path_is_reported() -> None:
    assert [i.format for i in read_inputs("/nonexistent/file.eml")] == ["missing"]
