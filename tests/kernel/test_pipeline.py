"""Pipelines through real plugin processes: validated first, every step's result returned."""
from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from qualia.kernel.inputs import load_document
from qualia.kernel.pipeline import (PipelineError, PipelineSpec, Step, load_pipeline, plan_for_target, plan_pipeline,
                             run_plan)
from tests.conftest import EXAMPLES, PROJECT

PIPELINE = PROJECT / "examples" / "pipelines" / "transcript.toml"


async def test_example_pipeline_runs_every_step_and_writes_figures(make_kernel, tmp_path):
    kernel = await make_kernel()
    spec = load_pipeline(PIPELINE)
    run = await run_plan(kernel, plan_pipeline(kernel, spec), load_document(str(EXAMPLES / "teams_pt.vtt")),
                         name=spec.name, output_dir=tmp_path / "out")
    steps = {step.id: step for step in run.steps}
    assert list(steps) == ["teams_cleaner", "word_frequency", "wordcloud_viz", "frequency_chart",
                           "sentiment_analyzer", "sentiment_viz"]
    cleaned = steps["teams_cleaner"].document
    assert {s.speaker for s in cleaned.segments} == {"Ana Souza", "Carlos Lima", "Beatriz Rocha", "Daniel Alves"}
    speakers = steps["word_frequency"].result["speakers"]
    assert set(speakers) == {"Ana Souza", "Carlos Lima", "Beatriz Rocha", "Daniel Alves"}
    assert steps["sentiment_analyzer"].result["speakers"].keys() == speakers.keys()
    png = (tmp_path / "out" / "teams_pt" / "wordcloud_viz.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    html = (tmp_path / "out" / "teams_pt" / "frequency_chart.html").read_text(encoding="utf-8")
    assert "http://" not in html and "https://" not in html
    ET.parse(tmp_path / "out" / "teams_pt" / "sentiment_viz.svg")


async def test_second_run_is_answered_from_the_cache(make_kernel, tmp_path):
    kernel = await make_kernel()
    spec = load_pipeline(PIPELINE)
    plan = plan_pipeline(kernel, spec)
    document = load_document(str(EXAMPLES / "zoom_en.vtt"))
    first = await run_plan(kernel, plan, document)
    second = await run_plan(kernel, plan, document)
    assert not any(step.cached for step in first.steps)
    assert all(step.cached for step in second.steps)
    assert [s.result for s in first.steps] == [s.result for s in second.steps]


@pytest.mark.parametrize(("steps", "named"), [
    ([Step(plugin="nope")], "step 1 (nope): unknown plugin 'nope'"),
    ([Step(plugin="word_frequency", config={"top_n": -1})], "step 1 (word_frequency)"),
    ([Step(plugin="wordcloud_viz")], "step 1 (wordcloud_viz): plugin 'wordcloud_viz' requires ['word_frequencies']"),
    ([Step(plugin="word_frequency"), Step(plugin="word_frequency")], "step 2 (word_frequency): duplicate step id"),
])
async def test_invalid_pipeline_is_rejected_before_anything_runs(make_kernel, steps, named):
    kernel = await make_kernel()
    with pytest.raises(PipelineError) as caught:
        plan_pipeline(kernel, PipelineSpec(steps=steps))
    assert named in caught.value.message
    assert kernel.status() == {}  # no plugin process was started


def test_pipeline_file_errors_name_the_file(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[steps]]\nplugin = 3\n")
    with pytest.raises(PipelineError) as caught:
        load_pipeline(bad)
    assert str(bad) in caught.value.message and "$.steps[0].plugin" in caught.value.message


async def test_target_resolution_with_clean_runs_the_cleaner_first(make_kernel):
    kernel = await make_kernel()
    plan = plan_for_target(kernel, "wordcloud_viz", {"format": "svg"}, clean=True)
    assert [step.id for step in plan] == ["teams_cleaner", "word_frequency", "wordcloud_viz"]
    run = await run_plan(kernel, plan, load_document(str(EXAMPLES / "teams_en.vtt")))
    svg = run.steps[-1].figure.data.decode("utf-8")
    ET.fromstring(svg)
