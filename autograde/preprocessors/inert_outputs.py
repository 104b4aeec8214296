"""``InertOutputs``: the HTML, Markdown and JavaScript a student's cells displayed, cleaned so
that neither the graded notebook nor the feedback page made from it runs a student's script.

Imports inside functions: nbconvert's Markdown renderer loads only when a student's Markdown
output is cleaned.
"""

from __future__ import annotations

from nbconvert.preprocessors.sanitize import SanitizeHTML
from traitlets import Any, Bool, List, Set, Unicode

#: Tags a student's HTML output keeps (others are escaped into visible text): text, tables
#: (pandas), lists, headings. No script, style, iframe, object, form, svg or event handler, and
#: no img (it would fetch any URL when the page is opened; images come as PNG outputs).
INERT_TAGS = frozenset(
    "a abbr acronym b blockquote br caption code dd del div dl dt em h1 h2 h3 h4 h5 h6 hr i "
    "ins kbd li ol p pre q s samp small span strong sub sup table tbody td tfoot th thead tr tt u "
    "ul var".split()
)
#: Attributes kept on those tags; ``on*`` handlers and ``style`` never are.
INERT_ATTRIBUTES = {
    "*": ["class", "title"],
    "a": ["href", "title"],
    "td": ["colspan", "rowspan", "align"],
    "th": ["colspan", "rowspan", "align"],
    "table": ["border"],
}
#: Output types shown as they are: text and raster images (the grader's own plots are PNG).
#: Anything else (JavaScript, SVG, widgets, other mimetypes) is removed; HTML and Markdown are
#: cleaned (:data:`INERT_TAGS`).
INERT_SAFE_OUTPUTS = frozenset(
    {"metadata", "text/plain", "text/latex", "application/json", "image/png", "image/jpeg"}
)


class InertOutputs(SanitizeHTML):
    """Make what the student's code displayed inert before anyone else opens it.

    The graded notebook is what nbgrader's formgrader renders for the instructor and what
    ``generate_feedback`` turns into the feedback page; a ``display(HTML('<script>...'))`` in a
    student's cell would otherwise run there with the viewer's session. Every code cell's rich
    outputs are cleaned (nbconvert's :class:`~nbconvert.preprocessors.SanitizeHTML`, with the
    allow-lists above): text, PNG and JPEG images stay, HTML keeps its text and harmless
    markup, scripts and handlers become visible text or go. Markdown and raw cells the student
    could write (not locked by nbgrader) are cleaned the same way; the course's locked cells
    are left as written. Stream and error outputs are text, escaped by every exporter.
    """

    # nbconvert's preprocessors are off unless enabled; this one is meant to run wherever listed
    enabled = Bool(True).tag(config=True)
    tags = List(Unicode(), default_value=sorted(INERT_TAGS), help="HTML tags kept").tag(config=True)
    attributes = Any(default_value=INERT_ATTRIBUTES, help="Attributes kept").tag(config=True)
    safe_output_keys = Set(default_value=INERT_SAFE_OUTPUTS, help="Outputs kept as they are").tag(
        config=True
    )

    def preprocess_cell(self, cell, resources, index):
        locked = (cell.get("metadata", {}).get("nbgrader") or {}).get("locked")
        if cell.cell_type in ("markdown", "raw") and locked:
            return cell, resources
        if cell.cell_type == "markdown":
            cell.source = self.markdown_to_inert_html(cell.source)
            return cell, resources
        if cell.cell_type == "code":
            for out in cell.get("outputs", []):
                data = out.get("data")
                if data and "text/markdown" in data:
                    md = data.pop("text/markdown")
                    data.setdefault("text/html", self.markdown_to_inert_html(md))
        return super().preprocess_cell(cell, resources, index)

    def markdown_to_inert_html(self, text: str) -> str:
        """Markdown rendered to HTML, then cleaned.

        Cleaning the Markdown text alone misses its own syntax: ``[x](javascript:...)`` and
        ``![](http://...)`` become a live link and an image fetched from anywhere only when the
        page is rendered. Rendered first, the link loses its ``javascript:`` target (bleach keeps
        http, https and mailto) and the image becomes visible text.
        """
        from nbconvert.filters.markdown_mistune import markdown2html_mistune

        if isinstance(text, list):  # nbformat may keep multi-line strings as lists
            text = "".join(text)
        return self.sanitize_html_tags(markdown2html_mistune(text))
