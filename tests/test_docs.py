"""The README and docs/ stay true to the CLI and to each other.

Every `rr …` command line in a fenced code block must parse with the real argument parser
(`rr --help` knows it); every `rr …` in inline code may only name commands and flags the
parser knows; every relative link must reach an existing file and heading.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest

from rr.cli import build_parser
from tests.helpers import ROOT

PAGES = sorted([ROOT / "README.md", *(ROOT / "docs").glob("*.md")])
FENCE = re.compile(r"^```([a-z]*)\n(.*?)^```", re.MULTILINE | re.DOTALL)
INLINE = re.compile(r"`(rr [^`]+)`")
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
SHELLS = {"", "sh", "bash", "shell", "console"}
ASSIGNMENT = re.compile(r"^[A-Z_][A-Z0-9_]*=")


def shell_lines(text: str) -> Iterator[str]:
    """Logical lines of the shell blocks: continuations joined, `$ ` prompts dropped."""
    for lang, body in FENCE.findall(text):
        if lang in SHELLS:
            yield from body.replace("\\\n", " ").splitlines()


def rr_invocations(line: str) -> Iterator[list[str]]:
    """The argument lists of `rr` (or `.venv/bin/rr`, `python -m rr`) in one shell line."""
    try:
        tokens = shlex.split(line.removeprefix("$ "), comments=True)
    except ValueError:
        return
    segment: list[str] = []
    piped = False  # `… | rr x` is a table of output, not a command
    for token in [*tokens, ";"]:
        if token in {"|", "||", "&&", ";", "&"}:
            while segment and (ASSIGNMENT.match(segment[0]) or segment[0] == "sudo"):
                segment.pop(0)
            if piped or not segment:
                pass
            elif segment[0] == "rr" or segment[0].endswith("/rr"):
                yield segment[1:]
            elif len(segment) > 2 and "python" in segment[0] and segment[1:3] == ["-m", "rr"]:
                yield segment[3:]
            segment, piped = [], token == "|"
        else:
            segment.append(token)


def optional_syntax(args: list[str]) -> list[str]:
    """`[--to emails]` in a usage line is written out: drop the brackets and ellipses."""
    cleaned = (a.strip("[]").rstrip("…").removesuffix("...") for a in args)
    return [a for a in cleaned if a]


def parse(args: list[str]) -> str | None:
    """None when the parser accepts ``args``, else its error message."""
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(args)
    except SystemExit as e:
        if e.code not in (0, None):
            return err.getvalue().strip().splitlines()[-1]
    return None


def command_flags(parser: argparse.ArgumentParser) -> dict[str, set[str]]:
    """Each command's option strings, its actions' flags included."""
    def subparsers(p: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
        for action in p._actions:
            if isinstance(action, argparse._SubParsersAction):
                return dict(action.choices)
        return {}

    def flags(p: argparse.ArgumentParser) -> set[str]:
        own = set(p._option_string_actions)
        for child in subparsers(p).values():
            own |= flags(child)
        return own

    top = set(parser._option_string_actions)
    return {"": top} | {name: top | flags(p) for name, p in subparsers(parser).items()}


def code_blocks() -> list[tuple[str, list[str]]]:
    found = []
    for page in PAGES:
        for line in shell_lines(page.read_text(encoding="utf-8")):
            for args in rr_invocations(line):
                found.append((f"{page.relative_to(ROOT)}: {line.strip()}", args))
    return found


def test_docs_show_rr_commands() -> None:
    """The checks below must have something to check."""
    assert len(code_blocks()) >= 10


@pytest.mark.parametrize(("where", "args"), code_blocks(), ids=lambda v: str(v)[:80])
def test_code_block_commands_parse(where: str, args: list[str]) -> None:
    error = parse(optional_syntax(args))
    assert error is None, f"{where}\n  rr --help does not know this: {error}"


def test_inline_commands_name_known_flags() -> None:
    """`rr workers [-i] [plugin…]`, `rr jobs list\\|stat …` in tables: the flags of a
    known command (spans such as `rr version 2025.1.15 …` are messages, not commands)."""
    known = command_flags(build_parser())
    wrong = []
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for span in INLINE.findall(text):
            words = [w for part in span.replace("\\|", "|").split()[1:] for w in part.split("|")]
            words = optional_syntax(words)
            command = words[0] if words and words[0] in known else ""
            if not command and not (words and words[0].startswith("-")):
                continue
            for word in words:
                if word.startswith("-") and len(word) > 1:
                    for flag in re.split(r"/(?=-)", word.split("=", 1)[0]):
                        if flag not in known.get(command, known[""]):
                            wrong.append(f"{page.name}: `{span}`: {command or 'rr'} has no "
                                         f"flag {flag}")
    assert not wrong, "\n".join(wrong)


def _anchors(page: Path) -> set[str]:
    """GitHub's heading ids: lower case, punctuation dropped, spaces to hyphens."""
    out = set()
    for heading in re.findall(r"^#+ (.+)$", page.read_text(encoding="utf-8"), re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        out.add(slug)
    return out


def test_relative_links_reach_files_and_headings() -> None:
    broken = []
    for page in PAGES:
        for target in LINK.findall(page.read_text(encoding="utf-8")):
            if re.match(r"^[a-z]+:", target):
                continue  # http(s), mailto
            path_part, _, anchor = target.partition("#")
            dest = (page.parent / path_part).resolve() if path_part else page
            if not dest.exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}: no such file")
            elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
                broken.append(f"{page.relative_to(ROOT)}: {target}: no such heading")
    assert not broken, "\n".join(broken)
