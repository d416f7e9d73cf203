"""`-P key=@file`: a parameter's value read from a file, by `qualia analyze`, `process` and `visualize` run as
real subprocesses. A .json file is JSON; any other file is text, converted like a value typed after `=`
(a list: one item per line). A file that cannot be read or parsed is exit 2 naming the parameter and the file."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.kernel.test_cli import TEAMS_PT, qualia, usage_error

TEXT = "the cat and the dog and the cat sat\n"
REFERENCE = {"total": 1000, "frequencies": {"cat": 2, "dog": 40, "the": 60, "and": 30, "sat": 1}}


def analyze(home: Path, *args: str, stdin: str = TEXT) -> dict:
    done = qualia("analyze", "-", *args, "--json", home=home, stdin=stdin)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_a_json_file_gives_the_same_result_as_the_json_inline(home: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference.json"
    reference.write_text(json.dumps(REFERENCE, indent=2), encoding="utf-8")
    common = ("-p", "keyness", "-P", "language=en", "-P", "min_frequency=1", "-P", "remove_stopwords=false")
    from_file = analyze(home, *common, "-P", f"reference_frequencies=@{reference}")
    inline = analyze(home, *common, "-P", f"reference_frequencies={json.dumps(REFERENCE)}")
    assert from_file == inline
    [comparison] = from_file["comparisons"]
    assert comparison["reference_tokens"] == 1000
    assert "cat" in [row["term"] for row in comparison["positive"]]  # 2 in 9 against 2 in 1000


def test_a_text_file_holds_a_list_one_item_per_line_and_a_number(home: Path, tmp_path: Path) -> None:
    words = tmp_path / "stopwords.txt"
    words.write_text("cat\n\n  dog  \n", encoding="utf-8")
    top = tmp_path / "top.txt"
    top.write_text("2\n", encoding="utf-8")
    result = analyze(home, "-p", "word_frequency", "-P", "language=en", "-P", f"stopwords=@{words}",
                     "-P", f"top_n=@{top}")
    assert [item["term"] for item in result["frequencies"]] == ["sat"]  # the, and: English stopwords
    assert result == analyze(home, "-p", "word_frequency", "-P", "language=en", "-P", "stopwords=cat,dog",
                             "-P", "top_n=2")


def test_a_string_from_a_file_in_any_encoding_loses_its_last_line_break(home: Path, tmp_path: Path) -> None:
    phrase = tmp_path / "phrase.txt"
    phrase.write_bytes("ação rápida\r\n".encode("cp1252"))
    result = analyze(home, "-p", "concordance", "-P", f"word=@{phrase}",
                     stdin="uma ação rápida, outra ação lenta\n")
    assert result["query"]["word"] == "ação rápida"
    assert result["hits"] == 1


def test_a_double_at_sign_is_a_value_starting_with_at(home: Path) -> None:
    result = analyze(home, "-p", "concordance", "-P", "word=@@cat")
    assert result["query"]["word"] == "@cat"


def test_process_reads_an_object_from_a_json_file(home: Path, tmp_path: Path) -> None:
    aliases = tmp_path / "aliases.json"
    aliases.write_text(json.dumps({"Ana Souza": "Ana S."}), encoding="utf-8")
    done = qualia("process", TEAMS_PT, "-p", "teams_cleaner", "-P", f"speaker_aliases=@{aliases}", home=home)
    assert done.returncode == 0, done.stderr
    speakers = {segment["speaker"] for segment in json.loads(done.stdout)["segments"]}
    assert "Ana S." in speakers and "Ana Souza" not in speakers


def test_visualize_reads_a_title_from_a_file(home: Path, tmp_path: Path) -> None:
    title = tmp_path / "title.txt"
    title.write_text("Reunião de onboarding\n", encoding="utf-8")
    out = tmp_path / "chart.svg"
    done = qualia("visualize", TEAMS_PT, "-p", "frequency_chart", "-P", f"title=@{title}", "-o", str(out),
                  home=home)
    assert done.returncode == 0, done.stderr
    assert "Reunião de onboarding" in out.read_text(encoding="utf-8")


@pytest.mark.parametrize(("content", "named"), [
    (None, ["'reference_frequencies'", "cannot read", "No such file"]),
    ('{"total": 100,\n  "frequencies": {"a": 3,}}', ["'reference_frequencies'", "invalid JSON", "line 2, column 26"]),
    ("[1, 2]", ["'reference_frequencies'", "expected object", "list"]),
], ids=["missing-file", "bad-json", "not-an-object"])
def test_a_bad_file_is_a_usage_error_naming_the_parameter_and_the_file(
        home: Path, tmp_path: Path, content: str | None, named: list[str]) -> None:
    path = tmp_path / "reference.json"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    done = qualia("analyze", "-", "-p", "keyness", "-P", f"reference_frequencies=@{path}", home=home, stdin=TEXT)
    usage_error(done, "keyness", *named, *([] if content == "[1, 2]" else [str(path)]))


@pytest.mark.parametrize(("command", "assignment", "named"), [
    (("analyze", "-", "-p", "word_frequency"), "top_n=@{tmp}/top.txt", ["'top_n'", "expected integer", "'abc'"]),
    (("analyze", "-", "-p", "word_frequency"), "top_n=@{tmp}", ["'top_n'", "cannot read", "{tmp}"]),
    (("analyze", "-", "-p", "word_frequency"), "top_n=@", ["'top_n'", "file name after @"]),
    (("process", "-", "-p", "teams_cleaner"), "fillers=@{tmp}/none.txt", ["'fillers'", "{tmp}/none.txt"]),
    (("visualize", "-", "-p", "frequency_chart", "-o", "{tmp}/x.svg"), "title=@{tmp}/none.txt",
     ["'title'", "{tmp}/none.txt"]),
], ids=["not-an-integer", "a-folder", "no-name", "process-missing", "visualize-missing"])
def test_every_command_with_p_reports_a_bad_parameter_file(home: Path, tmp_path: Path, command: tuple[str, ...],
                                                           assignment: str, named: list[str]) -> None:
    (tmp_path / "top.txt").write_text("abc\n", encoding="utf-8")
    args = [part.replace("{tmp}", str(tmp_path)) for part in command]
    done = qualia(*args, "-P", assignment.replace("{tmp}", str(tmp_path)), home=home, stdin=TEXT)
    usage_error(done, *(word.replace("{tmp}", str(tmp_path)) for word in named))
    assert not (tmp_path / "x.svg").exists()
