"""The flags reference docs/flags.md, generated from main.py's parser.

    python main.py --help-flags md > docs/flags.md

writes it: one table per group of the parser (as `--help` groups them), each flag with the
values it takes, its default and its help text. tests/e2e/test_console.py regenerates it and fails
when the committed file and the parser differ (flags_doc_difference).
"""

import argparse

REGENERATE = 'python main.py --help-flags md > docs/flags.md'
DOC_PATH = 'docs/flags.md'

HEADER = """# Flags of main.py

Every flag of `python main.py`, grouped as `python main.py --help` groups them. This file is
generated from the parser, and the tests fail when the two differ; regenerate it with

    %s

A flag not given takes its default; `--dataset demo`, `--preset cpu` and `--preset cpu64` change
some defaults (`PRESETS` in ugatit/config.py). Boolean flags take `true`/`false` (also `1`/`0`,
`yes`/`no`).
""" % REGENERATE

# argparse's title of the flags added to the parser itself rather than to a group.
GENERAL_TITLES = {'options': 'General', 'optional arguments': 'General'}


def _escape(text):
    """text safe inside a Markdown table cell (and not read as HTML tags)."""
    return (str(text).replace('\\', '\\\\').replace('|', '\\|').replace('<', '&lt;').replace('>', '&gt;')
            .replace('\n', ' '))


def _help_text(action):
    """The help text with %(default)s and friends filled in, less a trailing "(default: ...)"
    that only repeats the Default column."""
    text = action.help or ''
    for suffix in (' (default: %(default)s)', ' (default: %(default)r)'):
        if text.endswith(suffix):
            text = text[:-len(suffix)]
    params = dict(vars(action), default=action.default)
    if action.choices is not None:
        params['choices'] = ', '.join(map(str, action.choices))
    return text % params


def _values(action):
    """What a flag takes: its choices, true/false, an integer, a number or text."""
    if action.nargs == 0:
        return ''
    choices = action.choices
    if action.metavar and action.metavar.startswith('{'):  # --upscale {1,2,4,auto}: its type checks them
        choices = action.metavar.strip('{}').split(',')
    if choices is not None:
        return ' \\| '.join('`%s`' % choice for choice in choices)
    type_name = getattr(action.type, '__name__', '')
    if type_name == 'str2bool':
        return '`true`/`false`' + (' (the flag alone: `true`)' if action.nargs == '?' else '')
    return {'int': 'integer', 'float': 'number', 'str': 'text', '': 'text'}.get(type_name, 'see the description')


def _default(action):
    if action.nargs == 0 or action.default is argparse.SUPPRESS:
        return ''
    if action.default is None:
        return 'none'
    if isinstance(action.default, bool):
        return '`%s`' % str(action.default).lower()
    return '`%s`' % (action.default if action.default != '' else "''")


def flags_markdown(parser):
    """docs/flags.md for an argparse parser: HEADER, then a table per non-empty group."""
    lines = [HEADER]
    for group in parser._action_groups:  # argparse keeps its groups here, in --help's order
        actions = [a for a in group._group_actions if a.option_strings and a.help != argparse.SUPPRESS]
        if not actions:
            continue
        lines += ['## %s' % GENERAL_TITLES.get(group.title, group.title), '',
                  '| Flag | Values | Default | Description |', '|---|---|---|---|']
        for action in actions:
            flags = ', '.join('`%s`' % option for option in action.option_strings)
            lines.append('| %s | %s | %s | %s |' % (flags, _values(action), _escape(_default(action)),
                                                   _escape(_help_text(action))))
        lines.append('')
    return '\n'.join(lines)


def flags_doc_difference(parser, text):
    """None when `text` is flags_markdown(parser), else a message naming the first line that
    differs and the command that regenerates the file."""
    expected = flags_markdown(parser).splitlines()
    actual = text.splitlines()
    if expected == actual:
        return None
    for number, (want, have) in enumerate(zip(expected, actual), 1):
        if want != have:
            break
    else:
        number = min(len(expected), len(actual)) + 1
        want = expected[number - 1] if number <= len(expected) else '(end of file)'
        have = actual[number - 1] if number <= len(actual) else '(end of file)'
    return ('%s differs from the flags of main.py at line %d:\n  parser: %s\n  file:   %s\nRegenerate it: %s'
            % (DOC_PATH, number, want, have, REGENERATE))
