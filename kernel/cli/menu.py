"""`qualia menu`: the commands as questions, for researchers who do not type commands.

Built on questionary (prompt_toolkit). Every choice has a shortcut key shown beside
it; Ctrl-C goes back one level and quits from the top. The menu asks what to
analyse (the project's data folder, a folder, or some files), which pipeline,
where to write, then runs it on the same engine as `qualia pipeline`, one line
per document as it finishes, and keeps going past a bad file. It starts one
kernel for the whole session, so plugins stay warm between runs.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from importlib import resources
from pathlib import Path

import questionary
from prompt_toolkit.completion import PathCompleter
from questionary import Choice

from ..errors import QualiaError, UsageError
from ..kernel import Kernel
from ..pipeline import PipelineSpec, PlannedStep, load_pipeline, plan_pipeline, run_plan, with_cleaning
from ..project import DEFAULT_PIPELINE, PROJECT_FILE
from ..readers import read_source
from ..settings import Settings
from .command import Command, Subcommands, with_kernel
from .render import to_json

PIPELINE_SUFFIXES = (".toml", ".json")


def add_parser(commands: Subcommands) -> argparse.ArgumentParser:
    return commands.add_parser(
        "menu", help="an interactive menu: choose files, a pipeline, run, open the results",
        description="Ask step by step what to analyse (a folder or some files), with which pipeline and where "
                    "to write; run it with progress; open the output folder. Needs a terminal.")


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
    def __init__(self, kernel: Kernel) -> None:
        self.kernel = kernel
        self.settings = kernel.settings
        self.output = self.settings.output_dir

    def say(self, text: str = "") -> None:
        print(text, flush=True)

    async def main(self) -> int:
        self.say(self.banner())
        while True:
            action = await select("What would you like to do?", [
                Choice("Analyse files with a pipeline", "run", shortcut_key="a"),
                Choice(f"Open the output folder ({self.output})", "open", shortcut_key="o"),
                Choice("Quit", "quit", shortcut_key="q"),
            ]).ask_async()
            if action in (None, "quit"):
                return 0
            if action == "run":
                await self.analyse()
            elif action == "open":
                self.open_folder(self.output)

    def banner(self) -> str:
        if self.settings.project is None:
            where = "no project here (settings: defaults and QUALIA_*; `qualia init` makes a project)"
        else:
            where = f"project {self.settings.project} ({PROJECT_FILE})"
        return f"Qualia menu: {where}. Keys: arrows or the letter shown, Enter to choose, Ctrl-C to go back."

    # ---- analyse ---------------------------------------------------------------------------------------

    async def analyse(self) -> None:
        files = await self.choose_inputs()
        if not files:
            return
        chosen = await self.choose_pipeline()
        if chosen is None:
            return
        path, spec, plan = chosen
        answer = await questionary.text("Output folder:", default=str(self.output)).ask_async()
        if answer is None or not answer.strip():
            return
        self.output = Path(answer.strip()).expanduser()
        await self.run(files, path, spec, plan)

    async def choose_inputs(self) -> list[Path] | None:
        choices = []
        data = self.settings.data_dir
        data_files = files_in(data) if data is not None and data.is_dir() else []
        if data_files:
            choices.append(Choice(f"The project's data folder ({data}, {len(data_files)} files)", "data",
                                  shortcut_key="d"))
        choices += [Choice("A folder (every file in it and below)", "folder", shortcut_key="f"),
                    Choice("Some files from a folder", "files", shortcut_key="s"),
                    Choice("Back", "back", shortcut_key="b")]
        what = await select("What would you like to analyse?", choices).ask_async()
        if what in (None, "back"):
            return None
        if what == "data":
            return data_files
        folder = await self.ask_folder()
        if folder is None:
            return None
        found = files_in(folder, recursive=what == "folder")
        if not found:
            self.say(f"No files in {folder}.")
            return None
        if what == "folder":
            self.say(f"{len(found)} files in {folder}.")
            return found
        picked = await questionary.checkbox(
            "Files (space to tick or untick, a for all, Enter when done):",
            choices=[Choice(path.name, path, checked=True) for path in found]).ask_async()
        return picked or None

    async def ask_folder(self) -> Path | None:
        return await ask_path("Folder:", folders=True)

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

    async def choose_pipeline(self) -> tuple[Path, PipelineSpec, list[PlannedStep]] | None:
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
                plan = plan_pipeline(self.kernel, spec)
            except QualiaError as exc:
                self.say(f"This pipeline cannot run: {exc.message}")
                continue
            self.say(f"Steps: {' → '.join(step.id for step in plan)}")
            return picked, spec, plan

    async def run(self, files: list[Path], path: Path, spec: PipelineSpec, plan: list[PlannedStep]) -> None:
        """Every file through the plan; one line per document; a bad file is reported and the rest go on."""
        self.output.mkdir(parents=True, exist_ok=True)
        self.say(f"Running {spec.name} ({path}) over {len(files)} files into {self.output}")
        runs, failed, ids = [], [], set()
        started = time.monotonic()
        for number, source in enumerate(files, start=1):
            began = time.monotonic()
            try:
                done = []
                for document in read_source(str(source), limits=self.settings.archive_limits):  # CSV: rows
                    if document.id in ids:  # two files named alike must not share an output folder
                        document.id = f"{document.id}-{number}"
                    ids.add(document.id)
                    steps = with_cleaning(self.kernel, plan, document)  # transcripts cleaned, as everywhere
                    done.append(await run_plan(self.kernel, steps, document, name=spec.name, output_dir=self.output))
            except QualiaError as exc:
                failed.append((source, exc.message))
                self.say(f"[{number}/{len(files)}] {source.name}: failed: {exc.message}")
                continue
            if not done:
                continue
            runs += done
            figures = sum(step.figure is not None for run in done for step in run.steps)
            rows = f"{len(done)} documents, " if len(done) > 1 else ""
            self.say(f"[{number}/{len(files)}] {source.name}: {rows}{len(done[0].steps)} steps, {figures} figures "
                     f"({time.monotonic() - began:.1f} s)")
        (self.output / "results.json").write_text(to_json(runs), encoding="utf-8")
        self.say(f"Done: {len(runs)} of {len(files)} documents in {time.monotonic() - started:.1f} s"
                 + (f", {len(failed)} failed" if failed else "") + f". Results in {self.output}")
        for source, reason in failed:
            self.say(f"  failed: {source}: {reason}")

    # ---- open ------------------------------------------------------------------------------------------

    def open_folder(self, folder: Path) -> None:
        """Print the folder; with a display, also hand it to the desktop's file manager."""
        self.say(f"Output folder: {folder.resolve()}")
        if not folder.is_dir():
            self.say("(it does not exist yet: run an analysis first)")
            return
        opener = folder_opener()
        if opener is None:
            return
        try:
            subprocess.Popen([*opener, str(folder)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
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


def folder_opener() -> list[str] | None:
    """The desktop's "open this folder" command when there is a desktop to show it on."""
    if sys.platform == "darwin":
        return ["open"]
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        return None
    found = shutil.which("xdg-open")
    return [found] if found else None


async def menu(args: argparse.Namespace, kernel: Kernel) -> int:
    return await Menu(kernel).main()


def run_menu(args: argparse.Namespace, settings: Settings) -> int:
    if not (sys.stdin.isatty() and sys.stdout.isatty()):  # before a kernel starts
        raise UsageError("qualia menu asks questions in a terminal; in a script use `qualia pipeline`")
    return with_kernel(menu)(args, settings)


COMMAND = Command("menu", add_parser, run_menu)
