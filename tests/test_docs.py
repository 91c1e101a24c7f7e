"""The README and the man page must keep up with the command line.

Options, choices and exit statuses are read from the code (the click command and
ExitStatus), so adding one without documenting it fails here.
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
MAN_PATH = ROOT / "man" / "dice.1"
MAN = MAN_PATH.read_text(encoding="utf-8")

QUICK_START = (
    "python3 -m venv .venv && .venv/bin/pip install . && "
    ".venv/bin/dice score fixtures/nifti3d/gt fixtures/nifti3d/pred",
    "python3 -m venv .venv && .venv/bin/pip install '.[test]' && .venv/bin/python -m pytest -q",
)
MAN_SECTIONS = ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "EXIT STATUS", "FILES", "EXAMPLES")

SCORE = main.commands["score"]
ROOT_CTX = click.Context(main, info_name="dice", **main.context_settings)


def _ctx(name: str) -> click.Context:
    command = main.commands[name]
    return click.Context(command, info_name=name, parent=ROOT_CTX, **command.context_settings)


def _long_options(command: click.Command) -> list[str]:
    return sorted(
        opt
        for param in command.params
        if isinstance(param, click.Option)
        for opt in param.opts + param.secondary_opts
        if opt.startswith("--") and opt != "--help"
    )


def _choices() -> list[tuple[str, str]]:
    return [
        (param.opts[-1], choice)
        for param in SCORE.params
        if isinstance(param, click.Option) and isinstance(param.type, click.Choice)
        for choice in param.type.choices
    ]


def roff(text: str) -> str:
    """How a literal option is written in roff source: every hyphen escaped."""
    return text.replace("-", r"\-")


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



def test_score_has_options_to_check():
    options = _long_options(SCORE)
    assert "--threshold" in options and "--format" in options


OTHER_COMMANDS = [name for name in main.commands if name != "score"]


@pytest.mark.parametrize(("command", "option"), [(name, opt) for name in OTHER_COMMANDS
                                                 for opt in _long_options(main.commands[name])])
def test_other_commands_options_documented(command, option):
    assert f"`{option}" in README, f"dice {command} {option} is not documented in README.md"
    assert roff(option) in MAN, f"dice {command} {roff(option)} is not in man/dice.1"


@pytest.mark.parametrize("option", _long_options(SCORE) + _long_options(main))
def test_option_in_readme(option):
    assert f"`{option}" in README, f"{option} is not documented in README.md"


@pytest.mark.parametrize("option", _long_options(SCORE))
def test_option_in_readme_options_section(option):
    assert f"`{option}" in readme_section("Options"), f"{option} missing from README 'Options'"


@pytest.mark.parametrize("option", _long_options(SCORE) + _long_options(main))
def test_option_in_man_page(option):
    assert roff(option) in MAN, f"{roff(option)} is not in man/dice.1"


def test_man_page_has_no_unescaped_option_hyphens():
    for option in _long_options(SCORE):
        assert not re.search(rf"(?<!\\)\B{re.escape(option)}\b", MAN), f"unescaped {option} in man/dice.1"


@pytest.mark.parametrize(("option", "choice"), _choices())
def test_choice_documented(option, choice):
    assert re.search(rf"\b{re.escape(choice)}\b", readme_section("Options")), (
        f"{option} {choice} missing from README 'Options'"
    )


def test_format_and_empty_both_choices_are_checked():
    checked = {(option, choice) for option, choice in _choices()}
    assert {("--format", c) for c in ("table", "json", "csv")} <= checked
    assert {("--empty-both", c) for c in ("nan", "one", "zero")} <= checked


@pytest.mark.parametrize("status", list(ExitStatus), ids=lambda s: s.name)
def test_exit_status_in_readme(status):
    section = readme_section("Exit status")
    assert re.search(rf"^\| {int(status)} \|", section, re.M), f"exit status {int(status)} not in README"


@pytest.mark.parametrize("status", list(ExitStatus), ids=lambda s: s.name)
def test_exit_status_in_man_page(status):
    section = man_section("EXIT STATUS")
    assert re.search(rf"^\.TP\n\.B {int(status)}\n", section, re.M), (
        f"exit status {int(status)} not in the man page's EXIT STATUS section"
    )


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
