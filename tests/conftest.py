"""Fixtures of every tier: the CLI run in-process. Shared helpers live in helpers.py."""
import json

import pytest

from memscope.cli import main


@pytest.fixture
def cli(capsys):
    """Run the CLI in-process: returns (exit status, stdout, stderr)."""
    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err
    return run


@pytest.fixture
def cli_json(cli):
    def run(*argv):
        code, out, err = cli(*argv, "--json")
        assert code == 0, err
        return json.loads(out)
    return run
