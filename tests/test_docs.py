"""The README documents every environment variable and every CLI command."""
import pathlib
import re

from agentlens import config

README = (pathlib.Path(__file__).parent.parent / "README.md").read_text()


def test_readme_starts_with_the_two_commands():
    commands = re.findall(r"```bash\n(.*?)\n```", README, re.S)
    assert commands[0].endswith("pip install -e . && agentlens run")
    assert commands[1].endswith("pip install -e '.[test]' && pytest")


def test_ci_runs_the_readmes_test_command():
    ci = (pathlib.Path(__file__).parent.parent / ".ci" / "run").read_text()
    test_command = re.findall(r"```bash\n(.*?)\n```", README, re.S)[1]
    assert test_command in ci


def test_every_environment_variable_is_documented():
    for variable in [*config.ENVIRONMENT, "PORT"]:
        assert f"| `{variable}` |" in README, variable


def test_every_cli_command_is_documented(app):
    for name in app.cli.list_commands(None):
        assert f"`agentlens {name}`" in README, name
