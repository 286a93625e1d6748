"""Sphinx extension: the command-line reference, generated from the argument parser at build time.

``.. pencils-cli::`` (in reST, or in a MyST ``{eval-rst}`` block) writes one
section per command of :func:`pencils.cli.parser` with the text that
``pencils COMMAND --help`` prints, and one per command of every installed model
(entry point group ``pencils.models``), as printed by
``pencils COMMAND MODEL --help``. Nothing is copied by hand: a new option, a new
command or a new model appears in the reference at the next build. A command
whose ``--help`` fails is a build warning (an error under ``-W``).
"""

import contextlib
import io
import os

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

logger = logging.getLogger(__name__)
WIDTH = "100"  # columns of the help text (argparse reads $COLUMNS)


@contextlib.contextmanager
def _columns(width):
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = width
    try:
        yield
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def help_text(argv):
    """What ``pencils ARGV --help`` prints, and its exit status."""
    from pencils.cli import main

    out, err = io.StringIO(), io.StringIO()
    with _columns(WIDTH), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main([*argv, "--help"])
    return status, out.getvalue() + err.getvalue()


def commands():
    """``[(title, argv)]``: ``pencils``, each of its commands, then each command that each installed model has."""
    from pencils.cli import MODEL_COMMANDS, models, parser

    found = [("pencils", [])]
    subcommands = parser()._subparsers._group_actions[0].choices
    found += [(f"pencils {name}", [name]) for name in subcommands]
    for name, entry_point in sorted(models().items()):
        module = entry_point.load()
        found += [(f"pencils {command} {name}", [command, name]) for command, function in MODEL_COMMANDS.items()
                  if callable(getattr(module, function, None))]  # a model need not have every command
    return found


def _block(text):
    lines = [".. code-block:: text", ""]
    lines += ["   " + line if line.strip() else "" for line in text.rstrip("\n").splitlines()]
    return lines + [""]


class PencilsCLI(SphinxDirective):
    """The ``--help`` of every command, one section each (the heading level is the next below the page's)."""

    has_content = False
    option_spec = {"underline": lambda text: (text or "-").strip()[0]}

    def run(self):
        underline = self.options.get("underline", "-")
        lines = []
        for title, argv in commands():
            status, text = help_text(argv)
            if status != 0 or not text.strip():
                logger.warning("pencils-cli: %r --help exited %s", " ".join(["pencils", *argv]), status,
                               location=self.get_location())
                continue
            label = "$ " + " ".join(["pencils", *argv, "--help"])
            lines += [title, underline * len(title), "", f"``{label}``", ""] + _block(text)
        node = nodes.section()
        node.document = self.state.document
        nested_parse_with_titles(self.state, StringList(lines, source="pencils.cli.parser()"), node)
        return node.children


def setup(app):
    app.add_directive("pencils-cli", PencilsCLI)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
