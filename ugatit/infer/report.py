"""index.html of a results folder: one page, tables of images, every name HTML-escaped."""

import dataclasses
import os
from typing import List, Tuple

from utils import escape, write_atomic

_STYLE = ('body{font-family:sans-serif} td{text-align:center;padding:4px} '
          'img{height:%dpx;image-rendering:%s}')


@dataclasses.dataclass
class Section:
    """One table of the page.

    heading: the section title (None: no title); notes: paragraphs of text above the table;
    columns: (row key, column label) pairs of the image columns; rows: dicts with 'name' (the
    first column's text) and, per image column, a path relative to the page (missing: empty
    cell); skipped: reasons for inputs that produced no row, listed under the table.
    """
    heading: str = None
    notes: List[str] = dataclasses.field(default_factory=list)
    columns: List[Tuple[str, str]] = dataclasses.field(default_factory=list)
    rows: List[dict] = dataclasses.field(default_factory=list)
    skipped: List[str] = dataclasses.field(default_factory=list)
    skipped_title: str = 'Skipped:'


def shareable_checkpoint_name(prefix):
    """`<folder name>/<file prefix>` of a checkpoint: what a results page names, without the
    machine's paths (results folders get shared)."""
    return '/'.join(os.path.normpath(prefix).split(os.sep)[-2:])


def write_index(out_dir, title, intro, sections, image_height=160, pixelated=True, page='index.html'):
    """Write <out_dir>/<page> with a title, intro paragraphs and Sections; returns its path."""
    parts = ['<!DOCTYPE html><html><head><meta charset="utf-8"><title>%s</title><style>%s</style></head><body>'
             % (escape(title), _STYLE % (image_height, 'pixelated' if pixelated else 'auto')),
             '<h1>%s</h1>' % escape(title)]
    parts += ['<p>%s</p>' % escape(text) for text in intro]
    for section in sections:
        parts += _section_html(section)
    path = os.path.join(out_dir, page)
    parts += _kept_blocks(path)
    parts.append('</body></html>')
    write_atomic(path, '\n'.join(parts))
    return path


# Named blocks another phase puts into a results page (--phase eval: 'eval'); write_index keeps them.
KEPT_BLOCKS = ('eval',)


def _markers(name):
    return '<!-- block:%s -->' % name, '<!-- /block:%s -->' % name


def _find_block(html, name):
    """(start, end) of block `name` in html, markers included, or None."""
    begin, end = _markers(name)
    start = html.find(begin)
    stop = html.find(end, start + len(begin)) if start >= 0 else -1
    return None if stop < 0 else (start, stop + len(end))


def _kept_blocks(path):
    """The KEPT_BLOCKS of an existing page at `path` (a list of HTML strings; empty without a page)."""
    try:
        with open(path, encoding='utf-8') as f:
            html = f.read()
    except (OSError, UnicodeDecodeError):
        return []
    found = [_find_block(html, name) for name in KEPT_BLOCKS]
    return [html[span[0]:span[1]] for span in found if span]


def put_block(out_dir, title, name, html):
    """Put `html` into <out_dir>/index.html as block `name` (one of KEPT_BLOCKS), replacing the one there
    before; a page with only the block is written when there is none. Returns the page's path."""
    path = os.path.join(out_dir, 'index.html')
    if not os.path.isfile(path):
        write_index(out_dir, title, [], [])
    with open(path, encoding='utf-8') as f:
        page = f.read()
    span = _find_block(page, name)
    if span is None:
        cut = page.rfind('</body>')
        span = (cut, cut) if cut >= 0 else (len(page), len(page))
    begin, end = _markers(name)
    write_atomic(path, page[:span[0]] + '\n'.join([begin, html, end]) + page[span[1]:])
    return path


def _section_html(section):
    parts = ['<h2>%s</h2>' % escape(section.heading)] if section.heading else []
    parts += ['<p>%s</p>' % escape(text) for text in section.notes]
    parts.append('<table><tr><th>name</th>%s</tr>' % ''.join('<th>%s</th>' % escape(label) for _, label in section.columns))
    for row in section.rows:
        cells = ['<td>%s</td>' % escape(row['name'])]
        for key, _ in section.columns:
            cells.append('<td><img src="%s" alt="%s"></td>' % (escape(row[key]), escape(key)) if row.get(key) else '<td></td>')
        parts.append('<tr>%s</tr>' % ''.join(cells))
    parts.append('</table>')
    if section.skipped:
        parts.append('<p>%s</p><ul>%s</ul>' % (escape(section.skipped_title),
                                               ''.join('<li>%s</li>' % escape(r) for r in section.skipped)))
    return parts
