"""Kernel.analyze: one plugin, its requirements resolved, a transcript cleaned first by whichever plugin
provides `segments` (the kernel names none)."""
from __future__ import annotations

from pathlib import Path
from typing import AsyncIterator, Callable

import msgspec
import pytest

from qualia.kernel import Kernel, Settings
from qualia.kernel.errors import ResolutionError
from qualia.kernel.pipeline import PipelineSpec, Step, plan_pipeline, run_plan, with_cleaning
from qualia.kernel.readers import text_document
from qualia.kernel.registry import BUNDLED_PLUGINS, Registry
from tests.conftest import EXAMPLES, FIXTURES, live_children, problem_plugin, write_plugin

TRANSCRIPT = "Ana: um, o suporte demorou\nBruno: hum, o preço é justo\nAna: concordo\n"
CLEANER_PARAMETERS = """provides = ["segments"]

[parameters.remove_fillers]
type = "boolean"
default = false
"""


@pytest.fixture
async def kernel_with(fast_settings: Settings, plugin_dir: Path) -> AsyncIterator[Callable[..., Kernel]]:
    """Start a kernel whose registry has the test's plugins, and the bundled ones if asked."""
    kernels: list[Kernel] = []
    before = {child.pid for child in live_children()}
    write_plugin(plugin_dir, "segments_cleaner", ["{python}", str(FIXTURES / "segments_cleaner.py")], kind="document",
                 extra=CLEANER_PARAMETERS)
    problem_plugin(plugin_dir, "meta", "metadata")

    async def start(*, bundled: bool, cleaner: str | None = None) -> Kernel:
        settings = msgspec.structs.replace(fast_settings, cleaner=cleaner)
        registry = Registry(settings.plugin_path, entry_points=False, bundled=BUNDLED_PLUGINS if bundled else None)
        kernel = await Kernel(settings, registry=registry).start()
        kernels.append(kernel)
        return kernel

    yield start  # type: ignore[misc]
    for kernel in kernels:
        await kernel.stop()
    assert not [child for child in live_children() if child.pid not in before]


async def test_a_third_party_cleaner_cleans_transcripts_when_no_bundled_one_is_there(kernel_with):
    kernel = await kernel_with(bundled=False)
    analysis = await kernel.analyze("meta", text_document(TRANSCRIPT))
    assert analysis.cleaner == "segments_cleaner"
    assert [step.plugin for step in analysis.steps] == ["segments_cleaner", "meta"]
    seen = analysis.target.result
    assert seen["metadata"]["cleaned_by"] == "segments_cleaner"
    assert seen["metadata"]["fillers"] is True  # the cleaning defaults, for the keys this cleaner declares
    assert seen["echo"] == "o suporte demorou\no preço é justo\nconcordo"


async def test_raw_prose_and_forced_cleaning(kernel_with):
    kernel = await kernel_with(bundled=False)
    raw = await kernel.analyze("meta", text_document(TRANSCRIPT), clean=False)
    assert raw.cleaner is None and raw.target.result["echo"] == TRANSCRIPT
    prose = "O suporte demorou: foi ruim.\nMas o preço é justo."
    assert (await kernel.analyze("meta", text_document(prose))).cleaner is None  # not a transcript
    assert (await kernel.analyze("meta", text_document(prose), clean=True)).cleaner == "segments_cleaner"


async def test_an_outside_cleaner_is_preferred_to_the_bundled_one_and_QUALIA_CLEANER_decides(kernel_with):
    kernel = await kernel_with(bundled=True)
    document = text_document((EXAMPLES / "teams_en.vtt").read_text(encoding="utf-8"))
    assert kernel.cleaner_for(kernel.registry.get("word_frequency"), document).id == "segments_cleaner"
    chosen = await kernel_with(bundled=True, cleaner="teams_cleaner")
    analysis = await chosen.analyze("wordcloud_viz", document, {"format": "svg"})
    assert [step.plugin for step in analysis.steps] == ["teams_cleaner", "word_frequency", "wordcloud_viz"]
    assert analysis.steps[0].document.metadata["quality"]["fillers_removed"] > 0  # the pipelines' settings
    assert analysis.target.figure.data.lstrip().startswith(b"<svg")
    wrong = await kernel_with(bundled=True, cleaner="word_frequency")
    with pytest.raises(ResolutionError, match="QUALIA_CLEANER names 'word_frequency'"):
        await wrong.analyze("meta", document)


async def test_a_pipeline_without_a_cleaner_gets_one_for_a_transcript_and_keeps_its_own(kernel_with):
    kernel = await kernel_with(bundled=False)
    plan = plan_pipeline(kernel, PipelineSpec(steps=[Step(plugin="meta")]))
    document = text_document(TRANSCRIPT)
    cleaned = await run_plan(kernel, with_cleaning(kernel, plan, document), document)
    assert [step.plugin for step in cleaned.steps] == ["segments_cleaner", "meta"]
    assert [step.id for step in with_cleaning(kernel, plan, document, False)] == ["meta"]
    own = plan_pipeline(kernel, PipelineSpec(steps=[Step(plugin="segments_cleaner"), Step(plugin="meta")]))
    assert with_cleaning(kernel, own, document) == own  # the pipeline cleans as it was written
