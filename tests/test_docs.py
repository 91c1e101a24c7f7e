"""The README, docs/ and the man page must tell the story ``dice --help`` tells.

The click definitions in dicecli/cli.py are the source: ``--help`` prints them, and the man
page's OPTIONS section is generated from them (tools/gen_man.py), so:

- man/dice.1 must equal what the generator writes (flags, metavars and help texts verbatim), and,
  checked independently of the generator, every option's help text as ``--help`` prints it must
  be in the rendered OPTIONS section;
- docs/options.md has a row for every option of ``dice score``; its defaults and choices, and
  those of the README's "Main options" table, agree with ``--help``;
- every ``--option`` named in README.md or docs/*.md exists (a removed or renamed option fails);
- exit statuses (ExitStatus), the Quick start commands and .ci/run agree.

The ``$ dice`` examples themselves are run by tests/test_readme_examples.py.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dicecli.cli import main
from dicecli.errors import ExitStatus

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOC_PATHS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
OPTIONS_MD = (ROOT / "docs" / "options.md").read_text(encoding="utf-8")
MAN_PATH = ROOT / "man" / "dice.1"
MAN = MAN_PATH.read_text(encoding="utf-8")

QUICK_START = (
    "python3 -m venv .venv && .venv/bin/pip install . && "
    ".venv/bin/dice score fixtures/nifti3d/gt fixtures/nifti3d/pred",
    "python3 -m venv .venv && .venv/bin/pip install '.[test]' && .venv/bin/python -m pytest -q",
)
MAN_SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES")
#: Options of other programs that the docs show (not dice's).
FOREIGN_OPTIONS = {
    "--save_probabilities": "nnUNetv2_predict",
    "--out": "the user's predict.py in the CI recipes",
    "--update": "tests/test_readme_examples.py",
    "--check": "tools/gen_man.py",
    "--repeat": "benchmarks/*.py",
    "--dice-only": "benchmarks/bench.py",
    "--cases-2d": "benchmarks/bench.py",
    "--cases-3d": "benchmarks/bench.py",
    "--dtype": "benchmarks/memory.py",
    "--cases": "benchmarks/memory.py, benchmarks/bench.py",
    "--sets": "benchmarks/bench.py",
}

SCORE = main.commands["score"]
ROOT_CTX = click.Context(main, info_name="dice", **main.context_settings)


def _ctx(name: str) -> click.Context:
    command = main.commands[name]
    return click.Context(command, info_name=name, parent=ROOT_CTX, **command.context_settings)


def _options(command: click.Command) -> list[click.Option]:
    return [param for param in command.params if isinstance(param, click.Option)]


def _long_options(command: click.Command) -> list[str]:
    return sorted(opt for param in _options(command) for opt in param.opts + param.secondary_opts
                  if opt.startswith("--") and opt != "--help")


ALL_OPTIONS = {opt for command in (main, *main.commands.values()) for param in _options(command)
               for opt in param.opts + param.secondary_opts} | {"-h", "--help"}


def _choices() -> list[tuple[str, str]]:
    return [(param.opts[-1], choice) for param in _options(SCORE) if isinstance(param.type, click.Choice)
            for choice in param.type.choices]


def readme_section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def man_section(title: str) -> str:
    match = re.search(rf"^\.SH \"?{re.escape(title)}\"?\n(.*?)(?=^\.SH |\Z)", MAN, re.M | re.S)
    assert match, f"man/dice.1 has no .SH {title} section"
    return match.group(1)


def _gen_man():
    spec = importlib.util.spec_from_file_location("gen_man", ROOT / "tools" / "gen_man.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def deroff(text: str) -> str:
    """Roff source as plain words: font escapes dropped, escapes undone, whitespace collapsed."""
    gen = _gen_man()
    text = re.sub(r"^\.\\\".*$", "", text, flags=re.M)
    text = re.sub(r"^\.(TP|PP|SS|nh|hy)\b.*$", "", text, flags=re.M)
    text = re.sub(r"\\f[BIRP]", "", text).replace("\\&", "")
    for char, escape in gen.SPECIAL.items():
        text = text.replace(escape, char)
    text = text.replace("\\-", "-").replace("\\e", "\\")
    return " ".join(text.split())


# -- the man page is generated from the click definitions ------------------------------------

def test_man_page_options_are_generated_from_click():
    gen = _gen_man()
    assert gen.rewrite(MAN) == MAN, "man/dice.1 OPTIONS is out of date: run python tools/gen_man.py"


def _help_records():
    for name, ctx in [("dice", ROOT_CTX), *[(n, _ctx(n)) for n in main.commands]]:
        command = ctx.command
        for param in command.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is not None and isinstance(param, click.Option):
                yield name, record


@pytest.mark.parametrize(("command", "record"), list(_help_records()),
                         ids=lambda v: v if isinstance(v, str) else v[0])
def test_help_text_in_help_output_and_man_page(command, record):
    """Checked without the generator: ``--help`` prints it, and the man page says the same."""
    args = ["--help"] if command == "dice" else [command, "--help"]
    result = CliRunner().invoke(main, args, prog_name="dice", terminal_width=200)
    assert result.exit_code == 0
    flags, help_text = (" ".join(part.split()) for part in record)
    shown = " ".join(result.output.split())
    assert flags in shown and help_text in shown
    options = deroff(man_section("OPTIONS"))
    assert f"{flags} {help_text}" in options, f"the man page's entry for {flags} differs from --help"


def test_every_option_has_help():
    missing = [(name, record[0]) for name, record in _help_records() if not record[1].strip()]
    assert not missing, f"options without help text: {missing}"


def test_man_page_has_no_unescaped_option_hyphens():
    for option in ALL_OPTIONS:
        assert not re.search(rf"(?<![\\\w-]){re.escape(option)}\b", MAN), f"unescaped {option} in man/dice.1"


@pytest.mark.parametrize("section", MAN_SECTIONS)
def test_man_page_sections(section):
    assert re.search(rf"^\.SH \"?{re.escape(section)}\"?$", MAN, re.M), f".SH {section} missing"


def test_man_page_header():
    assert re.search(r"^\.TH DICE 1 ", MAN, re.M)
    assert re.search(r"^\.SH NAME\ndice \\- ", MAN, re.M)


def test_man_page_renders_without_warnings():
    groff = shutil.which("groff")
    if groff is None:
        pytest.skip("groff is not installed")
    result = subprocess.run(
        [groff, "-man", "-Tutf8", "-ww", "-z", str(MAN_PATH)],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", result.stderr


# -- README and docs/ name real options, with the defaults and choices of --help --------------

def test_docs_name_only_existing_options():
    for path in DOC_PATHS:
        text = path.read_text(encoding="utf-8")
        for option in sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9_-]*[a-z0-9]", text))):
            assert option in ALL_OPTIONS or option in FOREIGN_OPTIONS, (
                f"{path.relative_to(ROOT)} names {option}, which no dice command has"
            )


def _table_rows(text: str) -> dict[str, tuple[str, str]]:
    """Option table rows: each option of the first cell -> (that cell, the default cell)."""
    rows = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) < 3 or not cells[0].startswith("`-"):
            continue
        for option in re.findall(r"`(--?[a-z][\w-]*)", cells[0]):
            rows[option] = (cells[0], cells[1])
    return rows


def _param(option: str, command: click.Command = SCORE) -> click.Option:
    if option in ("-h", "--help"):
        return command.get_help_option(_ctx("score"))
    for param in _options(command):
        if option in param.opts + param.secondary_opts:
            return param
    raise AssertionError(f"dice score has no option {option}")


def _help_default(param: click.Option) -> str | None:
    record = param.get_help_record(_ctx("score"))
    match = re.search(r"\[default: ([^;\]]+)", record[1]) if record else None
    return match.group(1).strip() if match else None


def _same_value(cell: str, shown: str) -> bool:
    if cell == shown:
        return True
    try:
        return float(cell) == float(shown)
    except ValueError:
        return cell == shown


def _check_row(option: str, cell: str, default: str, where: str) -> None:
    param = _param(option)
    value = default.strip("`")
    shown = _help_default(param)
    help_text = param.help or ""
    if param.is_flag:
        assert default in ("off", ""), f"{where}: {option} is a flag; its default is 'off', not {default!r}"
    elif re.fullmatch(r"`?[\w.]+`?", default):
        if shown is not None:
            assert _same_value(value, shown), f"{where}: {option} default {default!r}, --help says {shown!r}"
        else:
            assert re.search(rf"{re.escape(value)} \(default\)|default:? {re.escape(value)}\b", help_text, re.I), (
                f"{where}: {option} default {default!r} is not what --help says"
            )
    else:
        assert shown is None, f"{where}: {option}: --help shows default {shown!r}, the table {default!r}"
    if isinstance(param.type, click.Choice):
        listed = re.search(rf"`{re.escape(option)} ([\w\\|]+)`", cell)
        assert listed, f"{where}: {option} row does not list its choices"
        assert listed.group(1).split("\\|") == list(param.type.choices), (
            f"{where}: {option} choices {listed.group(1)} differ from --help {list(param.type.choices)}"
        )


OPTIONS_ROWS = _table_rows(OPTIONS_MD)
README_ROWS = _table_rows(readme_section("Main options"))


@pytest.mark.parametrize("option", _long_options(SCORE))
def test_every_score_option_in_docs_options_table(option):
    assert option in OPTIONS_ROWS, f"{option} has no row in docs/options.md"


@pytest.mark.parametrize("option", sorted(OPTIONS_ROWS))
def test_docs_options_table_agrees_with_help(option):
    cell, default = OPTIONS_ROWS[option]
    _check_row(option, cell, default, "docs/options.md")


@pytest.mark.parametrize("option", sorted(README_ROWS))
def test_readme_main_options_agree_with_help(option):
    cell, default = README_ROWS[option]
    _check_row(option, cell, default, "README.md")


def test_readme_main_options_table_is_there():
    assert {"--threshold", "--format", "--min-dice", "--json"} <= set(README_ROWS)


@pytest.mark.parametrize(("option", "choice"), _choices())
def test_choice_documented(option, choice):
    row = OPTIONS_ROWS[option][0]
    assert re.search(rf"\b{re.escape(choice)}\b", row), f"{option} {choice} missing from docs/options.md"


OTHER_COMMANDS = [name for name in main.commands if name != "score"]


@pytest.mark.parametrize(("command", "option"), [(name, opt) for name in OTHER_COMMANDS
                                                 for opt in _long_options(main.commands[name])])
def test_other_commands_options_documented(command, option):
    docs = "".join(path.read_text(encoding="utf-8") for path in DOC_PATHS)
    assert f"`{option}" in docs, f"dice {command} {option} is not documented in README.md or docs/"


@pytest.mark.parametrize("command", list(main.commands))
def test_readme_names_every_command(command):
    assert f"`dice {command}" in README, f"README.md does not mention dice {command}"


# -- exit statuses, Quick start, CI --------------------------------------------------------------

def _codes(text: str, pattern: str) -> set[int]:
    return {int(code) for code in re.findall(pattern, text, re.M)}


def test_exit_statuses_in_readme():
    assert _codes(readme_section("Exit status"), r"^\| (\d+) \|") == {int(s) for s in ExitStatus}


def test_exit_statuses_in_score_help():
    result = CliRunner().invoke(main, ["score", "--help"], prog_name="dice", terminal_width=200)
    said = " ".join(result.output.split())
    listed = said[said.index("exit status"):].split(".")[0]
    assert _codes(listed, r"\b(\d+) [a-zA-Z]") == {int(s) for s in ExitStatus}


def test_exit_statuses_in_man_page():
    assert _codes(man_section("EXIT STATUS"), r"^\.TP\n\.B (\d+)\n") == {int(s) for s in ExitStatus}


@pytest.mark.parametrize("command", QUICK_START)
def test_quick_start_command_verbatim(command):
    assert f"```\n{command}\n```" in readme_section("Quick start")


def test_ci_runs_the_readme_test_command():
    ci = ROOT / ".ci" / "run"
    if not ci.exists():
        pytest.skip("no .ci/run")
    text = ci.read_text(encoding="utf-8")
    assert ".venv/bin/pip install '.[test]'" in text
    assert ".venv/bin/python -m pytest -q" in text


def test_docs_links_resolve():
    for path in DOC_PATHS:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text(encoding="utf-8")):
            if re.match(r"[a-z]+://", target):
                continue
            assert (path.parent / target).exists(), f"{path.relative_to(ROOT)} links to missing {target}"
