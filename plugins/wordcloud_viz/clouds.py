"""Drawing for wordcloud_viz: clouds laid out by `wordcloud`, a grid of them composed as PNG (PIL) or SVG.

Imported on the first render: it loads wordcloud, matplotlib (colormaps and
the DejaVu font only, never pyplot) and PIL.
"""
from __future__ import annotations

import difflib
import io
import math
import random
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import matplotlib

matplotlib.use("Agg")  # headless, should anything reach for pyplot

from matplotlib.colors import Colormap  # noqa: E402  (after choosing the backend)
from PIL import Image, ImageColor, ImageDraw, ImageFont  # noqa: E402
from wordcloud import WordCloud  # noqa: E402
from wordcloud.wordcloud import FONT_PATH as WORDCLOUD_FONT  # noqa: E402

from qualia.plugin_sdk import InputError  # noqa: E402

SVG_NS = "http://www.w3.org/2000/svg"
TRANSPARENT = ("transparent", "none")
MIN_CLOUD = (48, 24)  # smallest cloud area worth laying out, pixels
GUTTER = 5  # pixels between the clouds of a grid
Clouds = Sequence[tuple[str | None, dict[str, float]]]  # (speaker name or None, term -> weight)


def font_file(name: str) -> str:
    """A font shipped with matplotlib (DejaVu: full Latin accents), else wordcloud's own."""
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / name
    return str(path) if path.is_file() else WORDCLOUD_FONT


class ColormapColors:
    """A wordcloud `color_func` drawing colours from a matplotlib colormap with the layout's RNG.

    wordcloud's own colormap option imports pyplot; this does the same without it, and
    reads the colormap's lookup table once instead of calling it for every word.
    """

    def __init__(self, colormap: Colormap) -> None:
        table = colormap(range(colormap.N))  # integers index the table, as a float x picks entry int(x * N)
        self.colors = [f"rgb({round(r * 255)}, {round(g * 255)}, {round(b * 255)})" for r, g, b, _ in table]

    def __call__(self, word: str, font_size: int, position: Any, orientation: Any,
                 random_state: random.Random, **_: Any) -> str:
        return self.colors[min(int(random_state.uniform(0, 1) * len(self.colors)), len(self.colors) - 1)]


@dataclass(frozen=True)
class Style:
    """The validated drawing options of one render."""

    width: int
    height: int
    max_words: int
    columns: int
    prefer_horizontal: float
    seed: int
    colormap: Colormap
    background: tuple[int, int, int, int] | None  # RGBA; None is transparent
    font: str
    caption_font: str

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Style":
        return cls(width=config["width"], height=config["height"], max_words=config["max_words"],
                   columns=config["columns"], prefer_horizontal=float(config["prefer_horizontal"]),
                   seed=config["seed"], colormap=parse_colormap(config["colormap"]),
                   background=parse_color(config["background_color"]),
                   font=font_file("DejaVuSans.ttf"), caption_font=font_file("DejaVuSans-Bold.ttf"))

    @property
    def mode(self) -> str:
        return "RGB" if self.background is not None and self.background[3] == 255 else "RGBA"

    @property
    def background_hex(self) -> str | None:
        if self.background is None:
            return None
        red, green, blue, alpha = self.background
        return f"#{red:02x}{green:02x}{blue:02x}" + (f"{alpha:02x}" if alpha < 255 else "")

    @property
    def text_color(self) -> str:
        """Caption colour with contrast against the background."""
        if self.background is None:
            return "#333333"
        red, green, blue, _ = self.background
        return "#222222" if 0.299 * red + 0.587 * green + 0.114 * blue > 140 else "#eeeeee"


def parse_colormap(name: str) -> Colormap:
    try:
        return matplotlib.colormaps[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(matplotlib.colormaps), n=3) or ["viridis", "plasma", "Dark2"]
        raise InputError(f"config key 'colormap': unknown matplotlib colormap {name!r} "
                         f"(did you mean {', '.join(close)}?)", {"key": "colormap"}) from None


def parse_color(value: str) -> tuple[int, int, int, int] | None:
    if value.strip().lower() in TRANSPARENT:
        return None
    try:
        rgb = ImageColor.getrgb(value.strip())
    except ValueError:
        raise InputError(f"config key 'background_color': not a colour: {value!r} "
                         "(use a name, #rrggbb, rgb(r,g,b) or transparent)", {"key": "background_color"}) from None
    return (*rgb[:3], rgb[3] if len(rgb) == 4 else 255)


@dataclass(frozen=True)
class Cell:
    """One cloud's place in the image: a caption band of `caption` pixels on top, the cloud below,
    `gutter` pixels kept clear on its sides and bottom so neighbouring clouds do not touch."""

    x: int
    y: int
    width: int
    height: int
    caption: int = 0
    gutter: int = 0

    @property
    def cloud_x(self) -> int:
        return self.x + self.gutter

    @property
    def cloud_y(self) -> int:
        return self.y + self.caption

    @property
    def cloud_width(self) -> int:
        return self.width - 2 * self.gutter

    @property
    def cloud_height(self) -> int:
        return self.height - self.caption - self.gutter


def caption_size(cell: Cell) -> int:
    """Font size of a caption (and of "(no words)"), in pixels."""
    return max(11, round(cell.caption * 0.7))


def pick_columns(count: int, width: int, height: int) -> int:
    """The column count whose cells best hold a 2:1 cloud (fewer columns on a tie)."""
    def fit(columns: int) -> float:
        return min(width / columns / 2, height / math.ceil(count / columns))
    return max(range(1, count + 1), key=lambda c: (fit(c), -c))


def layout_grid(count: int, style: Style, *, captions: bool) -> list[Cell]:
    """Cells filling the image row by row; a lone cloud without caption fills it all."""
    if not captions:
        return [Cell(0, 0, style.width, style.height)]
    columns = min(style.columns or pick_columns(count, style.width, style.height), count)
    rows = math.ceil(count / columns)
    width, height = style.width // columns, style.height // rows
    caption = max(16, min(36, round(height * 0.13)))
    if width - 2 * GUTTER < MIN_CLOUD[0] or height - caption - GUTTER < MIN_CLOUD[1]:
        raise InputError(f"config keys 'width'/'height': a {style.width}x{style.height} image is too small for "
                         f"{count} clouds in {columns} columns; make it larger or change 'columns'",
                         {"key": "width"})
    return [Cell((i % columns) * width, (i // columns) * height, width, height, caption, GUTTER)
            for i in range(count)]


def draw_cloud(words: dict[str, float], width: int, height: int, style: Style) -> WordCloud:
    cloud = WordCloud(font_path=style.font, width=width, height=height, max_words=style.max_words,
                      background_color=style.background_hex, mode=style.mode,
                      color_func=ColormapColors(style.colormap), prefer_horizontal=style.prefer_horizontal,
                      random_state=style.seed)
    try:
        return cloud.generate_from_frequencies(words)
    except ValueError as exc:  # wordcloud: "Couldn't find space to draw"
        raise InputError(f"config keys 'width'/'height': cannot lay out the cloud: {exc}", {"key": "width"}) from None


def fitted(text: str, font: ImageFont.FreeTypeFont, room: float) -> str:
    """`text`, cut with an ellipsis until it fits in `room` pixels."""
    if font.getlength(text) <= room:
        return text
    while len(text) > 1 and font.getlength(text + "…") > room:
        text = text[:-1]
    return text + "…"


def compose_png(clouds: Clouds, cells: list[Cell], style: Style) -> bytes:
    canvas = Image.new(style.mode, (style.width, style.height), style.background or (0, 0, 0, 0))
    pen = ImageDraw.Draw(canvas)
    for (name, words), cell in zip(clouds, cells):
        if words:
            image = draw_cloud(words, cell.cloud_width, cell.cloud_height, style).to_image()
            canvas.paste(image, (cell.cloud_x, cell.cloud_y))
        else:
            font = ImageFont.truetype(style.font, caption_size(cell))
            pen.text((cell.x + cell.width / 2, cell.cloud_y + cell.cloud_height / 2), "(no words)",
                     font=font, fill=style.text_color, anchor="mm")
        if name is not None:
            font = ImageFont.truetype(style.caption_font, caption_size(cell))
            pen.text((cell.x + cell.width / 2, cell.y + cell.caption / 2), fitted(name, font, cell.width - 8),
                     font=font, fill=style.text_color, anchor="mm")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def compose_svg(clouds: Clouds, cells: list[Cell], style: Style) -> str:
    """One SVG: each cloud's own SVG (from wordcloud) nested at its cell, captions as <text>.

    ElementTree escapes every name and word on output.
    """
    ET.register_namespace("", SVG_NS)
    svg = f"{{{SVG_NS}}}"
    root = ET.Element(f"{svg}svg", {"width": str(style.width), "height": str(style.height),
                                    "viewBox": f"0 0 {style.width} {style.height}"})
    if style.background_hex is not None:
        ET.SubElement(root, f"{svg}rect", {"width": "100%", "height": "100%", "fill": style.background_hex})
    shared_style = None
    for (name, words), cell in zip(clouds, cells):
        middle = str(cell.x + cell.width / 2)
        if words:
            cloud = ET.fromstring(draw_cloud(words, cell.cloud_width, cell.cloud_height, style).to_svg())
            for element in cloud.findall(f"{svg}style"):  # the same font rule in every cloud: keep one
                cloud.remove(element)
                shared_style = shared_style if shared_style is not None else element
            cloud.attrib.update({"x": str(cell.cloud_x), "y": str(cell.cloud_y),
                                 "viewBox": f"0 0 {cell.cloud_width} {cell.cloud_height}"})
            root.append(cloud)
        else:
            empty = ET.SubElement(root, f"{svg}text", {
                "x": middle, "y": str(cell.cloud_y + cell.cloud_height / 2), "text-anchor": "middle",
                "font-size": str(caption_size(cell)), "fill": style.text_color})
            empty.text = "(no words)"
        if name is not None:
            font = ImageFont.truetype(style.caption_font, caption_size(cell))
            caption = ET.SubElement(root, f"{svg}text", {
                "x": middle, "y": str(cell.y + round(cell.caption * 0.75)), "text-anchor": "middle",
                "font-size": str(caption_size(cell)), "fill": style.text_color, "style": "font-weight:bold"})
            caption.text = fitted(name, font, cell.width - 8)
    if shared_style is not None:
        root.insert(0, shared_style)
    return ET.tostring(root, encoding="unicode")
