"""Source discovery (keys, globs, filters, links) and speaker names (normalising, aliases), in process."""
from __future__ import annotations

import os

import pytest

from qualia.kernel.corpus import SpeakerNames, discover, load_aliases, normalise
from qualia.kernel.errors import BadAliases


def touch(path, text="x"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_keys_are_relative_to_the_folder_given_and_stable(tmp_path):
    touch(tmp_path / "data" / "sub" / "a.vtt")
    touch(tmp_path / "data" / "sub" / "b.txt")
    found = discover([tmp_path / "data"])
    assert [source.key for source in found.sources] == ["sub/a.vtt", "sub/b.txt"]
    assert found.root == str(tmp_path / "data") and not found.problems
    assert [s.key for s in discover([tmp_path / "data" / "sub" / "a.vtt"]).sources] == ["a.vtt"]


def test_globs_include_exclude_hidden_files_and_the_output_folder(tmp_path):
    data = tmp_path / "data"
    for name in ("a.vtt", "b.vtt", "c.txt", ".hidden.vtt", "notes.txt~", "out/old.vtt", "x/deep.vtt"):
        touch(data / name)
    keys = lambda found: [source.key for source in found.sources]  # noqa: E731
    assert keys(discover([str(data / "*.vtt")])) == ["a.vtt", "b.vtt"]
    assert keys(discover([str(data / "**" / "*.vtt")])) == ["a.vtt", "b.vtt", "out/old.vtt", "x/deep.vtt"]
    assert keys(discover([data], include=["*.vtt"], exclude=["x/*"], skip=[data / "out"])) == ["a.vtt", "b.vtt"]
    missing = discover([str(data / "*.pdf"), data / "nope.txt"])
    reasons = [problem.reason for problem in missing.problems]
    assert reasons == ["no file matches this pattern", "no such file or folder"]


def test_the_same_file_twice_is_read_once_and_link_loops_are_reported(tmp_path):
    data = tmp_path / "data"
    real = touch(data / "a.txt")
    os.symlink(real, data / "link.txt")
    os.symlink("loop2", data / "loop1")
    os.symlink("loop1", data / "loop2")
    os.symlink(data, data / "again")
    found = discover([data, real])
    assert [source.key for source in found.sources] == ["a.txt"]
    reasons = {os.path.basename(problem.path): problem.reason for problem in found.problems}
    assert "loop" in reasons["loop1"] and "loop" in reasons["loop2"] and "loop" in reasons["again"]


def test_speaker_spellings_share_one_name_and_aliases_win(tmp_path):
    assert normalise("  Ana   SOUZA (Guest) ") == normalise("ana souza") == "ana souza"
    assert normalise("João") == normalise("JOAO")
    aliases = tmp_path / "aliases.toml"
    aliases.write_text('"Ana S." = "Ana Souza"\n"Carlos Lima" = ["carlos", "C. Lima"]\n', encoding="utf-8")
    names = SpeakerNames(load_aliases(aliases))
    assert {names(n) for n in ("Ana S.", "ANA SOUZA", "ana souza (Guest)")} == {"Ana Souza"}
    assert {names(n) for n in ("carlos", "C. Lima", "CARLOS LIMA")} == {"Carlos Lima"}
    assert names("Tom Becker") == names("tom  becker") == "Tom Becker"
    assert names.spellings["Ana Souza"] == {"Ana S.", "ANA SOUZA", "ana souza (Guest)"}
    assert names(None) == names("  ") == ""


@pytest.mark.parametrize("text", ['"x" = 3', "[aliases]\nx = [1]", "not toml ="])
def test_a_bad_aliases_file_names_the_file(tmp_path, text):
    path = tmp_path / "a.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(BadAliases, match="a.toml"):
        load_aliases(path)
