"""Word cloud visualizer: the ranked terms of `word_frequencies`, drawn as a cloud.

| parameter | type | default | meaning |
| --- | --- | --- | --- |
| format | string | png | png or svg (the reserved visualizer key) |
| width | integer 100-4000 | 800 | width of the whole image, pixels |
| height | integer 100-4000 | 400 | height of the whole image, pixels |
| max_words | integer 1-2000 | 200 | most words drawn in one cloud |
| colormap | string | viridis | matplotlib colormap of the word colours; an unknown name is -32602 |
| background_color | string | white | colour name, #rrggbb, rgb(...), or transparent |
| per_speaker | boolean | false | a grid of clouds, one per speaker, captioned with the name |
| columns | integer 0-20 | 0 | columns of that grid; 0 picks them from the image's shape |
| prefer_horizontal | number 0-1 | 0.9 | share of words laid out horizontally |
| seed | integer | 42 | seed of layout and colours: same input and seed, same image |

Input: `word_frequencies` (from word_frequency): the cloud weighs each term by
its `count`; per speaker it uses `speakers[name].frequencies`, in the order
the speakers appear. The image is `width` x `height` in both modes; a grid cell
gives its top line to the speaker's name. Text is set in DejaVu Sans (shipped
with matplotlib, full Latin accents); nothing is downloaded. SVG output keeps
words as `<text>` (UTF-8, escaped), so it assumes DejaVu Sans or a similar font
where it is viewed.

Errors (-32602): a missing or malformed `word_frequencies` (the message names
the field), nothing to draw, no speakers with `per_speaker`, an unknown
colormap or colour, or an image too small for its grid.
"""
from __future__ import annotations

from typing import Annotated, Any

import msgspec

from qualia.plugin_sdk import Document, Figure, InputError, VisualizerPlugin
from qualia.plugin_sdk.artefacts import read_input

ARTEFACT = "word_frequencies"


class Term(msgspec.Struct):
    term: str
    count: Annotated[float, msgspec.Meta(ge=0)]


class SpeakerFrequencies(msgspec.Struct):
    frequencies: list[Term]


class WordFrequencies(msgspec.Struct):
    """The part of word_frequency's result this plugin reads; other fields are ignored."""

    frequencies: list[Term]
    speakers: dict[str, SpeakerFrequencies] = {}


class WordcloudViz(VisualizerPlugin):
    def render(self, document: Document, config: dict[str, Any], inputs: dict[str, Any]) -> Figure:
        data = read_input(inputs, ARTEFACT, WordFrequencies)
        clouds: list[tuple[str | None, dict[str, float]]]
        if config["per_speaker"]:
            if not data.speakers:
                raise InputError(f"per_speaker needs speakers, but {ARTEFACT}.speakers is empty "
                                 "(the document has no speaker segments)", {"key": "per_speaker"})
            clouds = [(name, weights(s.frequencies)) for name, s in data.speakers.items()]
        else:
            clouds = [(None, weights(data.frequencies))]
        if not any(words for _, words in clouds):
            raise InputError(f"nothing to draw: {ARTEFACT}.frequencies has no term with a count above 0",
                             {"artefact": ARTEFACT})

        from . import clouds as drawing  # wordcloud, matplotlib and PIL load on the first render only

        style = drawing.Style.from_config(config)
        cells = drawing.layout_grid(len(clouds), style, captions=config["per_speaker"])
        if config["format"] == "svg":
            return Figure.of_format(drawing.compose_svg(clouds, cells, style), "svg")
        return Figure.of_format(drawing.compose_png(clouds, cells, style), "png")


def weights(terms: list[Term]) -> dict[str, float]:
    """term -> count, without zero counts (a cloud cannot size them)."""
    return {t.term: t.count for t in terms if t.count > 0}
