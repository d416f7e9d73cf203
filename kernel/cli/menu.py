"""`qualia menu`: the commands as questions, for researchers who do not type commands.

Built on questionary (prompt_toolkit). Every choice has a shortcut key shown beside
it; Ctrl-C goes back one level and quits from the top. The menu asks what to
analyse (the project's data folder, a folder, or some files), which pipeline and
where to write, then runs it on the corpus engine of `qualia batch` (the same
progress display, resumable, a bad file reported while the rest go on), exports
what it wrote with `qualia export`'s exporters, and opens the results.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
from importlib import resources
from importlib.util import find_spec
from pathlib import Path

import questionary
from prompt_toolkit.completion import PathCompleter
from questionary import Choice

from ..corpus import default_target, export_corpus, run_batch
from ..errors import QualiaError, UsageError
from ..kernel import Kernel
from ..pipeline import PipelineSpec, load_pipeline, plan_pipeline
from ..project import DEFAULT_PIPELINE, PROJECT_FILE
from ..settings import Settings
from .command import Command, Subcommands
from .progress import batch_display, print_summary

PIPELINE_SUFFIXES = (".toml", ".json")
EXPORTS = [  # (format, BOM, title, shortcut)
    ("csv", False, "CSV files, one per table", "c"),
    ("csv", True, "CSV files for Excel (UTF-8 with BOM)", "e"),
    ("xlsx", False, "An Excel workbook, one sheet per table", "x"),
    ("parquet", False, "Parquet files" + ("" if find_spec("pyarrow") else " (needs the extra: pip install "
                                                                    "'qualia-core[parquet]')"), "p"),
    ("qdpx", False, "A REFI-QDA project for QualCoder, MAXQDA, NVivo, ATLAS.ti", "r"),
]


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    return commands.add_parser(
        "menu", help="an interactive menu: choose files, a pipeline, run, export, open the results",
        description="Ask step by step what to analyse (a folder or some files), with which pipeline and where "
                    "to write; run it with progress; export tables; open the output folder. Needs a terminal.")


def select(message: str, choices: list[Choice]) -> questionary.Question:
    return questionary.select(message, choices=choices, use_shortcuts=True, use_jk_keys=False)


def shown(path: Path) -> str:
    """A path as short as it can be said: relative to the current folder when it is inside it."""
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def files_in(folder: Path, recursive: bool = True) -> list[Path]:
    """The visible regular files of a folder (and, recursively, of its visible subfolders), sorted."""
    found = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(path for path in found if path.is_file()
                  and not any(part.startswith(".") for part in path.relative_to(folder).parts))


class Menu:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.output = settings.output_dir
        self.planner = Kernel(settings)  # plans pipelines from the manifests; a batch starts its own kernel
        self.planner.registry.reload()

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    async def main(self) -> int:
        self.say(self.banner())
        while True:
            choices = [Choice("Analyse files with a pipeline", "run", shortcut_key="a"),
                       Choice(f"Export the results in {shown(self.output)} as tables", "export", shortcut_key="e"),
                       Choice(f"Open the output folder ({shown(self.output)})", "open", shortcut_key="o")]
            overview = self.output / "index.html"
            if overview.is_file():
                choices.append(Choice("Open the overview page (every document's figures)", "overview",
                                      shortcut_key="v"))
            choices.append(Choice("Quit", "quit", shortcut_key="q"))
            action = await select("What would you like to do?", choices).ask_async()
            if action in (None, "quit"):
                return 0
            if action == "run":
                await self.analyse()
            elif action == "export":
                await self.export()
            elif action == "open":
                self.open_path(self.output)
            elif action == "overview":
                self.open_path(overview)

    def banner(self) -> str:
        if self.settings.project is None:
            where = "no project here (settings: defaults and QUALIA_*; `qualia init` makes a project)"
        else:
            where = f"project {self.settings.project} ({PROJECT_FILE})"
        return f"Qualia menu: {where}. Keys: arrows or the letter shown, Enter to choose, Ctrl-C to go back."

    # ---- analyse ---------------------------------------------------------------------------------------

    async def analyse(self) -> None:
        paths = await self.choose_inputs()
        if not paths:
            return
        chosen = await self.choose_pipeline()
        if chosen is None:
            return
        path, spec = chosen
        answer = await questionary.text("Output folder:", default=str(self.output)).ask_async()
        if answer is None or not answer.strip():
            return
        self.output = Path(answer.strip()).expanduser()
        await self.run(paths, path, spec)

    async def choose_inputs(self) -> list[Path] | None:
        """Folders (searched like `qualia batch` searches them) or files."""
        choices = []
        data = self.settings.data_dir
        data_files = files_in(data) if data is not None and data.is_dir() else []
        if data_files:
            choices.append(Choice(f"The project's data folder ({shown(data)}, {len(data_files)} files)", "data",
                                  shortcut_key="d"))
        choices += [Choice("A folder (every file in it and below)", "folder", shortcut_key="f"),
                    Choice("Some files from a folder", "files", shortcut_key="s"),
                    Choice("Back", "back", shortcut_key="b")]
        what = await select("What would you like to analyse?", choices).ask_async()
        if what in (None, "back"):
            return None
        if what == "data":
            assert data is not None
            return [data]
        folder = await ask_path("Folder:", folders=True)
        if folder is None:
            return None
        found = files_in(folder, recursive=what == "folder")
        if not found:
            self.say(f"No files in {folder}.")
            return None
        if what == "folder":
            self.say(f"{len(found)} files in {folder}.")
            return [folder]
        picked = await questionary.checkbox(
            "Files (space to tick or untick, a for all, Enter when done):",
            choices=[Choice(path.name, path, checked=True) for path in found]).ask_async()
        return picked or None

    def pipeline_candidates(self) -> list[tuple[str, Path]]:
        """(label, path): the project's default, its other pipelines, the bundled default."""
        found: list[tuple[str, Path]] = []
        default = self.settings.pipeline
        if default is not None:
            found.append(("the project's default", default))
            for path in sorted(default.parent.glob("*")):
                if path.suffix in PIPELINE_SUFFIXES and path.resolve() != default.resolve():
                    found.append(("", path))
        bundled = resources.files("qualia.kernel").joinpath("templates", DEFAULT_PIPELINE)
        if isinstance(bundled, Path) and not any(path.read_bytes() == bundled.read_bytes() for _, path in found
                                                 if path.is_file()):
            found.append(("bundled", bundled))
        return found

    async def choose_pipeline(self) -> tuple[Path, PipelineSpec] | None:
        choices = []
        for index, (label, path) in enumerate(self.pipeline_candidates()):
            try:
                spec = load_pipeline(path)
                title = f"{spec.name} ({len(spec.steps)} steps)"
            except QualiaError:
                title = f"{path.name} (cannot be read)"
            where = f"{label}: {shown(path)}" if label else shown(path)
            choices.append(Choice(f"{title}, {where}", path, shortcut_key=str(index + 1)))
        choices += [Choice("Another pipeline file…", "other", shortcut_key="p"),
                    Choice("Back", "back", shortcut_key="b")]
        while True:
            picked = await select("Which pipeline?", choices).ask_async()
            if picked in (None, "back"):
                return None
            if picked == "other":
                picked = await ask_path("Pipeline file:", folders=False)
                if picked is None:
                    continue
            try:
                spec = load_pipeline(picked)
                plan = plan_pipeline(self.planner, spec)
            except QualiaError as exc:
                self.say(f"This pipeline cannot run: {exc.message}")
                continue
            self.say(f"Steps: {' → '.join(step.id for step in plan)}")
            return picked, spec

    async def run(self, paths: list[Path], pipeline: Path, spec: PipelineSpec) -> None:
        """`qualia batch` over the choice: a line per document, a live bar, failures named, then a summary."""
        self.say(f"Running {spec.name} ({shown(pipeline)}) into {shown(self.output)}")
        try:
            report = await run_batch(paths, pipeline, self.output, settings=self.settings,
                                     aliases=self.settings.speaker_aliases or None,
                                     listener=batch_display(sys.stdout, verbose=True))
        except QualiaError as exc:
            self.say(f"Nothing was run: {exc.message}")
            return
        print_summary(report)
        skipped = f", {report.skipped} already done" if report.skipped else ""
        failed = f", {report.failed} failed" if report.failed else ""
        self.say(f"Done: {report.succeeded} of {report.processed} files in {report.elapsed_s:.1f} s{failed}"
                 f"{skipped}. Results in {shown(self.output)}")

    # ---- export and open -------------------------------------------------------------------------------

    async def export(self) -> None:
        choices = [Choice(title, (fmt, bom), shortcut_key=key) for fmt, bom, title, key in EXPORTS]
        picked = await select("Export as?", [*choices, Choice("Back", "back", shortcut_key="b")]).ask_async()
        if picked in (None, "back"):
            return
        fmt, bom = picked
        target = default_target(self.output, fmt)
        try:
            written = await asyncio.to_thread(export_corpus, self.output, fmt, target, bom=bom)
        except QualiaError as exc:
            self.say(f"Cannot export: {exc.message}")
            return
        for path in written:
            self.say(f"  {shown(path)}")
        self.say(f"Exported {fmt}: {len(written)} file(s) in {shown(target if target.is_dir() else target.parent)}")

    def open_path(self, path: Path) -> None:
        """Print the folder (or page); with a display, also hand it to the desktop."""
        self.say(f"{'Output folder' if path.suffix == '' else 'Page'}: {path.resolve()}")
        if not path.exists():
            self.say("(it does not exist yet: run an analysis first)")
            return
        opener = desktop_opener()
        if opener is None:
            return
        try:
            subprocess.Popen([*opener, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        except OSError as exc:
            self.say(f"(could not open it with {opener[0]}: {exc.strerror or exc})")
        else:
            self.say(f"(opened with {opener[0]})")


async def ask_path(message: str, *, folders: bool) -> Path | None:
    """A path typed by the user: Tab completes, Enter answers (completion never pops up by itself),
    an empty answer goes back, a path that is not there is refused in place."""
    def check(text: str) -> bool | str:
        path = Path(text.strip()).expanduser()
        if not text.strip() or (path.is_dir() if folders else path.is_file()):
            return True
        return f"{path} is not {'a folder' if folders else 'a file'} (Tab completes, empty goes back)"

    answer = await questionary.text(message, validate=check, complete_while_typing=False,
                                    completer=PathCompleter(expanduser=True, only_directories=folders)).ask_async()
    return Path(answer.strip()).expanduser() if answer and answer.strip() else None


def desktop_opener() -> list[str] | None:
    """The desktop's "open this" command when there is a desktop to show it on."""
    if sys.platform == "darwin":
        return ["open"]
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    found = shutil.which("xdg-open")
    return [found] if found else None


def run_menu(args: argparse.Namespace, settings: Settings) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):
        raise UsageError("qualia menu asks questions in a terminal; in a script use `qualia batch`")
    return asyncio.run(Menu(settings).main())


COMMAND = Command("menu", add_parser, run_menu)
