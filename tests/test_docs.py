"""The user documentation: a short README, docs/ without a measurement journal, every module
named in docs/architecture.md, and no broken relative links.

Each check is a function over text or paths, tested once on the real files and once on a
made-up input it must flag, so none of them can pass by matching nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "conv1d_cli"
README = ROOT / "README.md"
DOCS = sorted((ROOT / "docs").glob("*.md"))
README_MAX_LINES = 250

# What makes a line a journal entry rather than documentation: a date, a clock time, a commit,
# a work session. Hex tokens need a digit and a letter a-f, so `1e-5`, `float32` and numbers
# in backticks are not commits.
DATED = {
    "ISO date": re.compile(r"\b20\d\d-\d\d-\d\d\b"),
    "UTC time": re.compile(r"\b\d\d:\d\d(-\d\d:\d\d)? UTC\b"),
    "clock time": re.compile(r"(?<![\d:])[0-2]\d:[0-5]\d(?![\d:])"),  # not 02:00:00, :8786
    "commit in backticks": re.compile(r"`(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}`"),
    "commit named": re.compile(
        r"\b(commit|at|main at)\s+(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b"
    ),
    "work session": re.compile(r"(?i)\bsession \d+\b|\b(this|last|previous) session\b"),
    "today": re.compile(r"(?i)\btoday('s)?\b"),
}
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)


def dated_lines(text: str) -> list[str]:
    """Lines of ``text`` that carry a date, a time, a commit or a session, with the reason."""
    return [
        f"{number}: {why}: {line.strip()}"
        for number, line in enumerate(text.splitlines(), 1)
        for why, pattern in DATED.items()
        if pattern.search(line)
    ]


def package_modules(package: Path = PACKAGE) -> list[str]:
    """Every ``.py`` file under the package, relative to it (``training/loop.py``)."""
    return sorted(p.relative_to(package).as_posix() for p in package.rglob("*.py"))


def unnamed_modules(architecture: str, modules: list[str]) -> list[str]:
    """Modules that docs/architecture.md does not name as `path` (in backticks)."""
    return [m for m in modules if f"`{m}`" not in architecture]


def named_missing_modules(architecture: str, package: Path = PACKAGE) -> list[str]:
    """Module lines of the list (``- `path.py`: ...``) naming a file that does not exist."""
    named = re.findall(r"^- `([\w/]+\.py)`:", architecture, re.M)
    return [m for m in named if not (package / m).is_file()]


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: lower case, punctuation dropped, spaces -> hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    text = FENCE.sub("", markdown)
    return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def broken_links(page: Path) -> list[str]:
    """Relative links of a Markdown page whose file (or heading anchor) does not exist."""
    text = FENCE.sub("", page.read_text())
    broken = []
    for target in LINK.findall(text):
        if re.match(r"[a-z]+:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        file = (page.parent / path).resolve() if path else page
        if not file.exists():
            broken.append(f"{target}: no such file")
        elif anchor and file.suffix == ".md" and anchor not in anchors(file.read_text()):
            broken.append(f"{target}: no heading #{anchor} in {file.name}")
    return broken


def quick_start_commands(readme: str) -> list[str]:
    """The commands (comments dropped) of the first code block under ``## Quick start``."""
    section = readme.split("\n## Quick start\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```\w*\n(.*?)```", section, re.S)
    assert block, "no code block in the quick start"
    lines = (line.split("#", 1)[0].strip() for line in block.group(1).splitlines())
    return [line for line in lines if line]


def test_readme_is_at_most_250_lines():
    lines = README.read_text().splitlines()
    assert len(lines) <= README_MAX_LINES, f"README.md has {len(lines)} lines"


@pytest.mark.parametrize("page", [README, *DOCS], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_docs_carry_no_dates_times_commits_or_sessions(page):
    assert dated_lines(page.read_text()) == [], "move these to benchmarks/journal.md"


def test_the_dated_line_check_flags_a_journal_line_and_spares_ordinary_text():
    journal = """Measured 2026-12-01 on a busy machine.
Rerun 13:12-13:31 UTC with the afternoon's engine.
The engine before these changes (commit 3ad1a95) was slower.
main at dc58574 changed the rounding.
Four runs: `5bc14a0` and `c96c5be`.
What session 12 measured.
The numbers of today's run.
The course network: 1,231x at 12:59."""
    flagged = {int(entry.split(":", 1)[0]) for entry in dated_lines(journal)}
    assert flagged == set(range(1, len(journal.splitlines()) + 1))  # every line, each for a reason
    ordinary = """Tested to 1e-8 in float64; `float32`, `1000000` and `deadbeef` are not commits.
Adam at 0.003, `--set train.epochs=3`, walltime: "02:00:00", a session = ort.InferenceSession().
dask worker tcp://127.0.0.1:8786, 1:1 ratios."""
    assert dated_lines(ordinary) == []


def test_docs_exist():
    names = {p.name for p in DOCS}
    for page in ("cli", "config", "data", "templates", "using-a-model", "sweeps", "runs"):
        assert f"{page}.md" in names
    assert {"performance.md", "architecture.md"} <= names


def test_architecture_names_every_module_of_the_package():
    modules = package_modules()
    assert "training/loop.py" in modules and "__init__.py" in modules  # the list is real
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    assert unnamed_modules(architecture, modules) == [], "add one line per module"
    assert named_missing_modules(architecture) == [], "modules named that no longer exist"


def test_the_module_check_flags_a_new_module_and_a_removed_one(tmp_path):
    (tmp_path / "cli").mkdir()
    for name in ("__init__.py", "cli/__init__.py", "cli/app.py"):
        (tmp_path / name).write_text("")
    modules = package_modules(tmp_path)
    assert modules == ["__init__.py", "cli/__init__.py", "cli/app.py"]
    page = "- `__init__.py`: the package.\n- `cli/__init__.py`: its map.\n- `cli/gone.py`: old.\n"
    assert unnamed_modules(page, modules) == ["cli/app.py"]
    assert named_missing_modules(page, tmp_path) == ["cli/gone.py"]


@pytest.mark.parametrize(
    "page",
    [README, *DOCS, ROOT / "benchmarks" / "journal.md"],
    ids=lambda p: p.relative_to(ROOT).as_posix(),
)
def test_relative_links_resolve(page):
    assert broken_links(page) == []


def test_the_link_check_flags_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Other\n\n## A heading: `with.code`\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](other.md#a-heading-withcode) [web](https://example.org/x) [self](#top)\n"
        "[gone](missing.md) [no anchor](other.md#nowhere)\n\n# Top\n"
        "```\n[in code](not-checked.md)\n```\n"
    )
    assert broken_links(page) == [
        "missing.md: no such file",
        "other.md#nowhere: no heading #nowhere in other.md",
    ]


def test_readme_quick_start_is_make_train_and_make_test():
    assert quick_start_commands(README.read_text()) == ["make train", "make test"]
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^train:", makefile, re.M) and re.search(r"^test:", makefile, re.M)


def test_the_quick_start_check_reads_the_commands():
    readme = (
        "# x\n\n## Quick start\n\n```bash\npip install x   # first\nmake train\n```\n\n## Next\n"
    )
    assert quick_start_commands(readme) == ["pip install x", "make train"]
