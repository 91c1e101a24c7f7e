"""Helpers shared by the CLI test modules."""

import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from dicecli.cli import main


def run(*args, env=None, **kwargs):
    """Invoke `dice score ARGS` in-process; stdout and stderr stay separate."""
    return CliRunner().invoke(main, ["score", *map(str, args)], env=env, **kwargs)


def strict_json(text):
    """Parse JSON, failing on NaN/Infinity tokens (the contract forbids them)."""
    def reject(token):
        raise AssertionError(f"non-standard JSON token {token}")

    return json.loads(text, parse_constant=reject)


def png(path, array):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(array, dtype=np.uint8), mode="L").save(path)
