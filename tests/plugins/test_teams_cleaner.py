"""teams_cleaner, read as a specification: formats, cleaning options, quality report, bad input.

Segment counts for the samples in examples/transcripts were counted by hand
from the files.
"""
from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qualia.plugin_sdk import Document, RpcError
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugins.teams_cleaner import TeamsCleaner

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "examples" / "transcripts"
PLUGIN_DIR = ROOT / "plugins" / "teams_cleaner"
INVALID_PARAMS = -32602

harness = PluginHarness(TeamsCleaner)  # the plugin keeps no state between runs


def sample(name: str) -> str:
    return (SAMPLES / name).read_text(encoding="utf-8")


def run(document: Document | str, **config: Any) -> Document:
    return harness.run(document, config)


def quality(document: Document) -> dict[str, Any]:
    return document.metadata["quality"]


def speakers(document: Document) -> Counter[str | None]:
    return Counter(segment.speaker for segment in document.segments)


def texts(document: Document) -> list[str]:
    return [segment.text for segment in document.segments]


def rejected(document: Document | str, **config: Any) -> RpcError:
    with pytest.raises(RpcError) as info:
        run(document, **config)
    assert info.value.code == INVALID_PARAMS
    return info.value


def binary_document(data: bytes, filename: str = "upload.bin") -> Document:
    """What the kernel's file loader sends for a binary file."""
    return Document(text="", metadata={"filename": filename, "content_base64": base64.b64encode(data).decode()})


# ---- every sample: format, speakers, segment counts --------------------------------------------

SAMPLE_CASES = [
    ("teams_pt.vtt", "teams_vtt", "pt",
     {"Ana Souza": 3, "Carlos Lima": 3, "Beatriz Rocha": 3, "Daniel Alves": 2}),
    ("teams_en.vtt", "teams_vtt", "en",
     {"Priya Natarajan": 3, "Tom Becker": 3, "Lena Park": 2, "Marcus Reed": 1}),
    ("teams_docx_export_pt.txt", "teams_docx_text", "pt", {"Ana Souza": 4, "Carlos Lima": 2, "Beatriz Rocha": 3}),
    ("zoom_en.vtt", "zoom_vtt", "en", {"Jordan Miles": 3, "Sam Ortiz": 2}),
    ("interview_en.srt", "srt", "en", {None: 4}),
    ("chat_plain_pt.txt", "bracket_time", "pt", {"Marina Costa": 3, "Rafael Dias": 4}),
    ("survey_answers_en.txt", "plain", "en", {None: 8}),
]


@pytest.mark.parametrize(("name", "fmt", "language", "expected"), SAMPLE_CASES)
def test_each_sample_is_detected_and_parsed(name: str, fmt: str, language: str, expected: dict) -> None:
    document = run(sample(name))
    report = quality(document)
    assert report["format"] == fmt
    assert report["format_source"] == "auto"
    assert dict(speakers(document)) == expected
    assert report["segments"]["kept"] == len(document.segments) == sum(expected.values())
    assert report["unparsed_count"] == 0 and report["unparsed_lines"] == []
    assert document.language == language


@pytest.mark.parametrize(("name", "fmt", "language", "expected"), SAMPLE_CASES)
def test_forcing_the_right_format_gives_the_same_result(name: str, fmt: str, language: str, expected: dict) -> None:
    auto, forced = run(sample(name)), run(sample(name), input_format=fmt)
    assert quality(forced)["format_source"] == "forced"
    assert forced.segments == auto.segments
    assert forced.text == auto.text


def test_docx_export_text_counts_system_lines_and_keeps_the_title_apart() -> None:
    document = run(sample("teams_docx_export_pt.txt"))
    report = quality(document)
    assert report["segments"] == {"parsed": 11, "kept": 9, "merged": 0,
                                  "dropped": {"system_line": 2, "too_short": 0, "empty": 0}}
    assert [(d["line"], d["reason"], d["text"]) for d in report["dropped"]] == [
        (7, "system_line", "Carlos Lima entrou na reunião"),
        (30, "system_line", "Carlos Lima saiu da reunião"),
    ]
    assert report["preamble"] == ["Reunião de alinhamento - Transcrição", "3 de março de 2025, 14:02"]
    assert [s.start for s in document.segments] == [3, 15, 24, 27, 40, 52, 65, 71, 80]
    assert all(s.end is None for s in document.segments)
    assert document.segments[0].text == "Boa tarde, gente. Hum, a pauta de hoje é o relatório trimestral."
    assert document.text.splitlines()[-1] == "Ana Souza: Perfeito, obrigada. Encerramos por hoje."


def test_cue_times_are_seconds() -> None:
    teams = run(sample("teams_pt.vtt"))
    assert (teams.segments[0].start, teams.segments[0].end) == (2.35, 6.91)
    assert (teams.segments[-1].start, teams.segments[-1].end) == (69.5, 74.02)
    srt = run(sample("interview_en.srt"))
    assert [(s.start, s.end) for s in srt.segments] == [(1.0, 4.5), (5.0, 11.2), (11.8, 16.4), (16.9, 24.3)]
    chat = run(sample("chat_plain_pt.txt"))
    assert [s.start for s in chat.segments] == [5, 12, 20, 31, 45, 58, 66]
    assert [s.speaker for s in run(sample("survey_answers_en.txt")).segments] == [None] * 8


def test_text_is_speaker_lines_or_just_text() -> None:
    zoom = run(sample("zoom_en.vtt"))
    assert zoom.text.splitlines()[0] == "Jordan Miles: Hi all, can you hear me okay?"
    assert len(zoom.text.splitlines()) == 5
    srt = run(sample("interview_en.srt"))
    assert srt.text.splitlines()[0] == "Can you tell me how you use the product day to day?"


def test_teams_vtt_drops_note_blocks_and_cue_ids() -> None:
    document = run(sample("teams_pt.vtt"))
    assert "NOTE" not in document.text and "3f6c1a2e" not in document.text and "<v" not in document.text
    assert document.segments[0].text.startswith("Bom dia, pessoal.")


# ---- forcing other formats ---------------------------------------------------------------------

def test_forcing_plain_takes_every_line_as_it_is() -> None:
    document = run(sample("zoom_en.vtt"), input_format="plain")
    assert quality(document)["format"] == "plain"
    assert len(document.segments) == 16  # WEBVTT + 5 x (number, timing, text)
    assert set(speakers(document)) == {None}


def test_forcing_generic_vtt_takes_speakers_only_from_voice_tags() -> None:
    teams = run(sample("teams_pt.vtt"), input_format="vtt")
    assert quality(teams)["format"] == "vtt"
    assert speakers(teams)["Ana Souza"] == 3
    zoom = run(sample("zoom_en.vtt"), input_format="vtt")
    assert set(speakers(zoom)) == {None}
    assert zoom.segments[0].text == "Jordan Miles: Hi all, can you hear me okay?"


def test_forcing_a_format_that_does_not_fit_is_invalid_params() -> None:
    error = rejected(sample("chat_plain_pt.txt"), input_format="srt")
    assert "srt" in error.message and "line 1" in error.message


def test_forcing_docx_without_a_docx_file_is_invalid_params() -> None:
    assert "content_base64" in rejected("Ana: oi", input_format="docx").message


def test_unknown_config_keys_and_choices_are_invalid_params() -> None:
    rejected("Ana: oi", format="srt")  # "format" is reserved for visualizers
    rejected("Ana: oi", input_format="pdf")
    rejected("Ana: oi", speaker_case="shout")


# ---- system lines ------------------------------------------------------------------------------

MEETING = """\
Ana started transcription
Ana: Hello everyone.
Bruno Dias joined the meeting
Bruno Dias: Hi Ana. Carla saiu da reunião mais cedo.
A transcrição foi iniciada
Carlos Lima entrou na reunião.
Carlos Lima saiu da reunião
Bruno Dias left the meeting
Ana: Let's start.
Transcription stopped
"""


def test_system_lines_are_removed_by_default_in_both_languages() -> None:
    document = run(MEETING)
    assert quality(document)["format"] == "name_colon"
    assert texts(document) == ["Hello everyone.", "Hi Ana. Carla saiu da reunião mais cedo.", "Let's start."]
    assert quality(document)["segments"]["dropped"]["system_line"] == 7
    assert [d["line"] for d in quality(document)["dropped"]] == [1, 3, 5, 6, 7, 8, 10]


def test_system_lines_are_kept_when_asked() -> None:
    document = run(MEETING, remove_system_lines=False)
    assert len(document.segments) == 10
    assert document.segments[0].text == "Ana started transcription" and document.segments[0].speaker is None
    assert "Carlos Lima entrou na reunião." in document.text.splitlines()
    docx_text = run(sample("teams_docx_export_pt.txt"), remove_system_lines=False)
    assert len(docx_text.segments) == 11
    assert docx_text.segments[1].text == "Carlos Lima entrou na reunião"


# ---- fillers -----------------------------------------------------------------------------------

def test_fillers_stay_unless_asked() -> None:
    document = run(sample("teams_pt.vtt"))
    assert "Hum, vamos começar?" in document.segments[0].text
    assert "confusa, né." in document.segments[2].text
    assert quality(document)["fillers_removed"] == 0


def test_portuguese_fillers_are_removed_and_punctuation_tidied() -> None:
    document = run(sample("teams_pt.vtt"), remove_fillers=True)
    got = texts(document)
    assert got[0] == "Bom dia, pessoal. Vamos começar? Hoje a ideia é ouvir vocês sobre o onboarding novo."
    assert got[1] == "Bom dia! Então, eu achei o cadastro muito mais rápido, ficou bem melhor que antes."
    assert got[2] == "Mas a parte de confirmar o e-mail ainda é confusa. Eu fiquei perdido esperando o código."
    assert got[6] == "Eu pulei o tutorial, confesso. Achei longo demais e queria usar logo o aplicativo."
    assert "de um jeito simples" in got[5]  # "um" is an article in Portuguese, not a filler
    assert quality(document)["fillers_removed"] == 4


def test_english_fillers_are_removed() -> None:
    document = run(sample("teams_en.vtt"), remove_fillers=True)
    assert texts(document)[0] == "Okay, let's get started. Thanks everyone for joining the customer feedback review."
    assert texts(document)[2].startswith("But the export feature is a real pain point.")
    zoom = run(sample("zoom_en.vtt"), remove_fillers=True)
    assert zoom.segments[1].text == "Yes, loud and clear. Should we start with the interview notes?"


@pytest.mark.parametrize(("said", "cleaned"), [
    ("A Reunião de ação foi boa, né? Não sei.", "A Reunião de ação foi boa? Não sei."),
    ("Hum, hum, eu acho que sim.", "Eu acho que sim."),
    ("hum, eu acho que sim.", "eu acho que sim."),
    ("Eu revisei, hum, os números.", "Eu revisei, os números."),
    ("As vendas, tipo, cresceram.", "As vendas, cresceram."),
    ("Tipo, ficou ótimo.", "Ficou ótimo."),
    ("Que tipo de plano você quer?", "Que tipo de plano você quer?"),
    ("Ahn... sabe, não sei.", "Não sei."),
    ("Hummm.", None),
])
def test_filler_tidying(said: str, cleaned: str | None) -> None:
    document = run(f"Ana: {said}", remove_fillers=True, language="pt")
    if cleaned is None:
        assert document.segments == [] and quality(document)["segments"]["dropped"]["empty"] == 1
    else:
        assert texts(document) == [cleaned]


@pytest.mark.parametrize(("said", "cleaned"), [
    ("I like it, you know, a lot.", "I like it, a lot."),
    ("Like, it was, um, great.", "It was, great."),
    ("Uh-huh, I agree.", "Uh-huh, I agree."),
])
def test_english_filler_tidying(said: str, cleaned: str) -> None:
    assert texts(run(f"Tom: {said}", remove_fillers=True, language="en")) == [cleaned]


def test_custom_fillers_extend_or_replace_the_defaults() -> None:
    extended = run(sample("teams_docx_export_pt.txt"), remove_fillers=True, fillers=["gente"])
    assert extended.segments[0].text == "Boa tarde. A pauta de hoje é o relatório trimestral."
    replaced = run(sample("teams_pt.vtt"), remove_fillers=True, fillers=["tipo"], fillers_mode="replace")
    assert replaced.segments[0].text.startswith("Bom dia, pessoal. Hum, vamos")  # default fillers not applied
    assert replaced.segments[1].text == "Bom dia! Então, eu achei o cadastro muito mais rápido, ficou bem melhor que antes."


def test_portuguese_accents_survive_every_option() -> None:
    options = dict(remove_fillers=True, merge_speakers=True, speaker_case="title", min_length=1)
    crafted = run("Ana: A Reunião de ação foi boa, né? Não sei.", **options)
    assert crafted.text == "Ana: A Reunião de ação foi boa? Não sei."
    assert "confirmação" in run(sample("teams_pt.vtt"), **options).text
    assert "não foi resolvido" in run(sample("chat_plain_pt.txt"), **options).text
    assert quality(run(sample("teams_docx_export_pt.txt"), **options))["preamble"][0].startswith("Reunião")


# ---- speakers, merge, min length ---------------------------------------------------------------

NAMES = "  ana   souza :  Bom dia.\nANA SOUZA: Tudo bem?\njoão da silva: Oi.\nBia: Olá.\n"


@pytest.mark.parametrize(("case", "expected"), [
    ("keep", ["ana souza", "ANA SOUZA", "joão da silva", "Bia"]),
    ("title", ["Ana Souza", "Ana Souza", "João da Silva", "Bia"]),
    ("lower", ["ana souza", "ana souza", "joão da silva", "bia"]),
    ("upper", ["ANA SOUZA", "ANA SOUZA", "JOÃO DA SILVA", "BIA"]),
])
def test_speaker_names_are_trimmed_and_cased(case: str, expected: list[str]) -> None:
    document = run(NAMES, speaker_case=case)
    assert [s.speaker for s in document.segments] == expected
    assert document.segments[0].text == "Bom dia."


def test_speaker_aliases_map_case_insensitively_to_one_name() -> None:
    document = run(NAMES, speaker_aliases={"ana souza": "Ana Souza", "bia": "Beatriz Rocha"})
    assert [s.speaker for s in document.segments] == ["Ana Souza", "Ana Souza", "joão da silva", "Beatriz Rocha"]
    assert quality(document)["speakers"]["Ana Souza"]["segments"] == 2
    merged = run("Ana: oi\nAninha: tudo bem?", speaker_aliases={"Aninha": "Ana"}, merge_speakers=True)
    assert texts(merged) == ["oi tudo bem?"]


def test_speaker_alias_values_must_be_names() -> None:
    rejected("Ana: oi", speaker_aliases={"Ana": 3})


def test_merge_joins_consecutive_turns_of_one_speaker() -> None:
    chat = run(sample("chat_plain_pt.txt"), merge_speakers=True)
    assert len(chat.segments) == 6 and quality(chat)["segments"]["merged"] == 1
    rafael = chat.segments[3]
    assert rafael.speaker == "Rafael Dias" and rafael.start == 31 and rafael.end is None
    assert rafael.text == ("Sinceramente, foi muito ruim. Demoraram uma semana para responder e o problema não foi "
                           "resolvido. Por outro lado, o atendente novo foi educado e atencioso.")
    teams = run(sample("teams_pt.vtt"), merge_speakers=True)
    assert len(teams.segments) == 9
    assert [(s.speaker, s.start, s.end) for s in teams.segments[1:2] + teams.segments[5:6]] == [
        ("Carlos Lima", 7.2, 20.03), ("Daniel Alves", 41.4, 55.64)]
    docx_text = run(sample("teams_docx_export_pt.txt"), merge_speakers=True)
    assert len(docx_text.segments) == 8  # the two Beatriz turns at 0:40 and 0:52


def test_merge_never_joins_segments_without_speaker() -> None:
    assert len(run(sample("survey_answers_en.txt"), merge_speakers=True).segments) == 8


def test_minimum_length_in_words_and_characters() -> None:
    words = run(sample("survey_answers_en.txt"), min_length=8)
    assert len(words.segments) == 6
    assert quality(words)["segments"]["dropped"]["too_short"] == 2
    assert [d["line"] for d in quality(words)["dropped"]] == [5, 6]
    chars = run(sample("survey_answers_en.txt"), min_length=55, min_length_unit="characters")
    assert len(chars.segments) == 4  # 64, 59, 66 and 67 characters


# ---- quality report ----------------------------------------------------------------------------

def test_report_has_talk_time_and_words_per_speaker() -> None:
    report = quality(run(sample("teams_en.vtt")))
    assert report["timing"] == "start_end"
    assert report["speakers"]["Marcus Reed"] == {"segments": 1, "words": 16, "talk_time_s": 6.2}
    assert report["speakers"]["Priya Natarajan"]["talk_time_s"] == 15.75  # 4.2 + 5.25 + 6.3
    assert list(report["speakers"]) == ["Priya Natarajan", "Tom Becker", "Lena Park", "Marcus Reed"]
    assert report["words"] == sum(row["words"] for row in report["speakers"].values())


def test_report_estimates_talk_time_from_start_times_only_when_that_is_all() -> None:
    report = quality(run(sample("teams_docx_export_pt.txt")))
    assert report["timing"] == "start_only"
    assert {name: row["talk_time_s"] for name, row in report["speakers"].items()} == {
        "Ana Souza": 21.0, "Carlos Lima": 22.0, "Beatriz Rocha": 34.0}  # Ana's last turn has no next start
    assert quality(run(sample("survey_answers_en.txt")))["timing"] == "none"


BROKEN_SRT = """\
1
00:00:01,000 --> 00:00:04,500
Hello there.

2
00:00:05,000 --> 00:00:1x,200
This cue has a broken time.

3
00:00:11,800 --> 00:00:16,400
Third cue.
"""


def test_srt_with_a_broken_timestamp_keeps_the_rest_and_reports_the_line() -> None:
    document = run(BROKEN_SRT)
    report = quality(document)
    assert report["format"] == "srt"
    assert texts(document) == ["Hello there.", "This cue has a broken time.", "Third cue."]
    assert (document.segments[1].start, document.segments[1].end) == (None, None)
    assert report["unparsed_lines"] == [
        {"line": 6, "content": "00:00:05,000 --> 00:00:1x,200", "reason": "bad cue timing"}]


GARBAGE_VTT = """\
WEBVTT

abc12345-0000/1-0
00:00:01.000 --> 00:00:02.000
<v Ana>Oi.</v>

this is not a cue
just garbage

00:00:03.000 --> 00:00:04.000
<v Bruno>Olá &amp; tchau.</v>
"""


def test_vtt_with_a_garbage_cue_keeps_the_rest_and_reports_its_lines() -> None:
    document = run(GARBAGE_VTT)
    report = quality(document)
    assert report["format"] == "teams_vtt"
    assert [(s.speaker, s.text) for s in document.segments] == [("Ana", "Oi."), ("Bruno", "Olá & tchau.")]
    assert [(b["line"], b["content"]) for b in report["unparsed_lines"]] == [
        (7, "this is not a cue"), (8, "just garbage")]
    assert report["unparsed_count"] == 2


def test_bracket_lines_that_do_not_parse_are_reported_with_their_numbers() -> None:
    text = ("[00:00:05] Ana: Oi.\n%%% ???\n[00:00:10] Bruno: Olá.\n[00:61:00] Ana: hora errada\n"
            "[00:00:20] Ana: Tudo bem?\n\n[00:00:25] Bruno: Sim.\n" + "x" * 500)
    document = run(text)
    report = quality(document)
    assert report["format"] == "bracket_time"
    assert texts(document) == ["Oi.", "Olá.", "Tudo bem?", "Sim."]
    assert [b["line"] for b in report["unparsed_lines"]] == [2, 4, 8]
    long_line = report["unparsed_lines"][2]["content"]
    assert len(long_line) == 120 and long_line.endswith("…")


def test_name_colon_continuations_and_stray_paragraphs() -> None:
    document = run("Título da entrevista\n\nAna: primeira linha\ncontinua aqui\nBia: ok\n\n"
                   "sem nome depois de linha vazia\nAna: certo\nBia: até logo")
    assert quality(document)["format"] == "name_colon"
    assert [(s.speaker, s.text) for s in document.segments] == [
        ("Ana", "primeira linha continua aqui"), ("Bia", "ok"), ("Ana", "certo"), ("Bia", "até logo")]
    assert [b["line"] for b in quality(document)["unparsed_lines"]] == [1, 7]


# ---- input that is not text --------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"


def test_binary_file_is_invalid_params() -> None:
    error = rejected(binary_document(PNG, "photo.png"))
    assert "photo.png" in error.message and "UTF-8" in error.message


@pytest.mark.parametrize("text", ["Ana: oi\x00\x00\x00", "\x01\x02\x03\x04abc", "\x1b\x1b\x1b\x1bok", "\ufffd" * 5 + "ab"])
def test_text_with_nul_or_mostly_control_characters_is_invalid_params(text: str) -> None:
    rejected(text)


def test_bytes_in_another_encoding_are_invalid_params() -> None:
    assert "UTF-8" in rejected(binary_document("Olá, reunião".encode("latin-1"), "notes.txt")).message


def test_zip_that_is_not_a_docx_and_bad_base64_are_invalid_params() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert "not a .docx" in rejected(binary_document(buffer.getvalue(), "a.zip")).message
    rejected(Document(text="", metadata={"content_base64": "not base64 !!!"}))


def test_utf8_bytes_in_content_base64_are_read_as_text() -> None:
    document = run(binary_document(sample("teams_pt.vtt").encode("utf-8-sig"), "teams_pt.vtt"))
    assert quality(document)["format"] == "teams_vtt" and len(document.segments) == 11
    assert "content_base64" not in document.metadata and document.metadata["filename"] == "teams_pt.vtt"


def test_a_few_control_characters_are_tolerated_and_cleaned() -> None:
    document = run("Ana: olá\x07 pessoal, tudo bem com a reunião de hoje?")
    assert texts(document) == ["olá pessoal, tudo bem com a reunião de hoje?"]


# ---- .docx files -------------------------------------------------------------------------------

def make_docx(paragraphs: list[str | tuple[str, str]]) -> bytes:
    """A real .docx; a tuple is one paragraph with a line break inside, as Teams writes them."""
    import docx

    document = docx.Document()
    for paragraph in paragraphs:
        if isinstance(paragraph, tuple):
            p = document.add_paragraph()
            run_ = p.add_run(paragraph[0])
            run_.add_break()
            p.add_run(paragraph[1])
        else:
            document.add_paragraph(paragraph)
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def test_teams_docx_file_is_read_from_content_base64() -> None:
    data = make_docx([
        "Reunião de teste - Transcrição",
        ("Ana Souza   0:03", "Bom dia, né. Vamos começar a reunião de ação?"),
        "Carlos Lima entrou na reunião",
        "Carlos Lima   1:02:03",
        "Oi, Ana. Tudo certo com a ação, não é?",
    ])
    document = run(binary_document(data, "reuniao.docx"), remove_fillers=True)
    report = quality(document)
    assert (report["format"], report["source"], report["format_source"]) == ("docx", "docx", "auto")
    assert document.text == ("Ana Souza: Bom dia. Vamos começar a reunião de ação?\n"
                             "Carlos Lima: Oi, Ana. Tudo certo com a ação, não é?")
    assert [s.start for s in document.segments] == [3, 3723]
    assert report["preamble"] == ["Reunião de teste - Transcrição"]
    assert [(d["line"], d["reason"]) for d in report["dropped"]] == [(3, "system_line")]  # paragraph number
    assert document.language == "pt"
    assert document.metadata["filename"] == "reuniao.docx" and "content_base64" not in document.metadata
    forced = run(binary_document(data, "reuniao.docx"), input_format="docx", remove_fillers=True)
    assert forced.segments == document.segments


def test_docx_in_another_layout_is_detected_from_its_paragraphs() -> None:
    document = run(binary_document(make_docx(["Ana: Oi.", "Bia: Olá, tudo bem?"]), "chat.docx"))
    report = quality(document)
    assert (report["format"], report["source"]) == ("name_colon", "docx")
    assert [s.speaker for s in document.segments] == ["Ana", "Bia"]


# ---- language ----------------------------------------------------------------------------------

def test_language_is_set_only_when_auto() -> None:
    assert run(Document(text=sample("teams_en.vtt"), language="pt")).language == "pt"
    assert run("Ana: oi").language == "auto"  # too little to tell


def test_each_kept_segment_s_language_is_recorded_for_the_analyzers() -> None:
    """One detection per segment, in the segments' order, for word_frequency and sentiment to reuse."""
    cleaned = run("Ana: o produto chegou quebrado e ninguém respondeu\nTom: the app keeps crashing on login\n"
                  "Ana: 12:30")
    assert [s.text for s in cleaned.segments] == ["o produto chegou quebrado e ninguém respondeu",
                                                  "the app keeps crashing on login", "12:30"]
    recorded = cleaned.metadata["segment_languages"]
    assert [pair[0] for pair in recorded] == ["pt", "en", "und"]
    assert all(0.5 <= pair[1] <= 1 for pair in recorded[:2]) and recorded[2][1] == 0.0


def test_recording_segment_languages_can_be_turned_off_and_a_stale_record_never_survives() -> None:
    stale = Document(text="Ana: bom dia\nTom: hello", metadata={"segment_languages": [["en", 1.0]]})
    assert "segment_languages" not in run(stale, detect_languages=False).metadata
    assert [pair[0] for pair in run(stale).metadata["segment_languages"]][:1] == ["pt"]


# ---- never crash -------------------------------------------------------------------------------

FORMAT_LINES = [
    "WEBVTT", "", "NOTE", "00:00:01.000 --> 00:00:02.000", "00:00:01,000 --> 00:00:02,000", "1",
    "3f6c1a2e-7b1d-4c55-9a0e-2d41b8e0c9a1/14-0", "<v Ana Souza>Bom dia, hum, né.</v>", "<v >", "</v>",
    "Jordan Miles: Hi, um, all.", "Ana Souza   0:03", "Ana Souza   1:02:03", "[00:00:05] Ana: Oi, tipo, tudo?",
    "Ana (00:01:02): texto", "Carlos Lima entrou na reunião", "X joined the meeting", "A transcrição foi iniciada",
    "Hum.", ", né,", "-->", "[", "(", ":", "Ana:", "00:00:xx --> ", "&amp;", "<b>", "\t", "\r", "ação não Reunião",
]
CONFIGS = st.fixed_dictionaries({}, optional={
    "input_format": st.sampled_from(["auto", "teams_vtt", "zoom_vtt", "vtt", "teams_docx_text", "docx", "srt",
                                     "bracket_time", "paren_time", "name_colon", "plain"]),
    "remove_fillers": st.booleans(),
    "remove_system_lines": st.booleans(),
    "merge_speakers": st.booleans(),
    "min_length": st.integers(0, 5),
    "min_length_unit": st.sampled_from(["words", "characters"]),
    "speaker_case": st.sampled_from(["keep", "title", "lower", "upper"]),
    "fillers": st.lists(st.text(max_size=8), max_size=3),
    "language": st.sampled_from(["auto", "pt", "en"]),
})


def run_or_reject(text: str, config: dict[str, Any]) -> None:
    try:
        document = run(text, **config)
    except RpcError as exc:
        assert exc.code == INVALID_PARAMS, exc.message
        return
    report = quality(document)
    counts = report["segments"]
    assert counts["kept"] == len(document.segments)
    assert counts["parsed"] == counts["kept"] + counts["merged"] + sum(counts["dropped"].values())
    for segment in document.segments:
        assert segment.text.strip() and not any(c in segment.text for c in "\x00\x01\x02")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text())
def test_arbitrary_text_never_crashes(text: str) -> None:
    run_or_reject(text, {})


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(st.sampled_from(FORMAT_LINES), st.text(max_size=30)), max_size=30),
       st.sampled_from(["\n", "\r\n", "\n\n"]), CONFIGS)
def test_format_like_text_never_crashes(lines: list[str], separator: str, config: dict[str, Any]) -> None:
    run_or_reject(separator.join(lines), config)


# ---- as a real process -------------------------------------------------------------------------

def test_runs_as_a_child_process_and_imports_python_docx_lazily() -> None:
    answers = converse(PLUGIN_DIR, [
        {"document": {"text": "Ana: oi"}, "config": {}},
        {"document": {"text": "", "metadata": {"content_base64": base64.b64encode(PNG).decode()}}}])
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    assert [a["id"] for a in answers] == [1, 2, 3, 4]
    assert answers[0]["result"]["id"] == "teams_cleaner"
    assert answers[1]["result"]["document"]["segments"] == [{"text": "oi", "speaker": "Ana", "start": None, "end": None}]
    assert answers[2]["error"]["code"] == INVALID_PARAMS
    probe = "import sys, plugins.teams_cleaner; print(sorted(m for m in ('docx', 'lxml', 'zipfile') if m in sys.modules))"
    imported = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True,
                              timeout=30)
    assert imported.stdout.strip() == "[]"
