"""The exporter of the students' feedback pages: nbgrader's feedback HTML that needs no network.

nbgrader's ``generate_feedback`` exports each autograded notebook with nbconvert's
:class:`~nbconvert.exporters.HTMLExporter` and its ``feedback`` template, whose header loads
MathJax from a CDN to typeset the notebook's ``$...$`` and ``$$...$$``. Where the page cannot
load it (a course server without internet, an LMS that strips scripts) the student reads raw
TeX. :class:`FeedbackExporter` renders that maths on the server instead, as MathML (which
browsers draw natively), and leaves the CDN script out, so the page is complete offline.

Only the course's own Markdown (cells nbgrader locks) is converted: a student's Markdown cell
keeps its TeX as text, and every MathML fragment is checked against an allow-list of
presentation elements and attributes (:func:`tex_to_mathml`) before it reaches the page.
Code cells and outputs are never touched: only Markdown goes through ``markdown2html``.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET

from jinja2 import DictLoader
from latex2mathml.converter import convert
from nbconvert.exporters import HTMLExporter
from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
from traitlets import default

try:  # jinja2 >= 3
    from jinja2 import pass_context
except ImportError:  # pragma: no cover - nbconvert 7 needs jinja2 3
    from jinja2 import contextfilter as pass_context

#: MathML presentation elements a converted formula may use; anything else (a ``<script>`` that
#: ``\\text{...}`` passed through, an unknown element) sends the formula back as text.
MATHML_TAGS = frozenset(
    "math mrow mi mn mo ms mtext mspace msub msup msubsup mfrac msqrt mroot mover munder "
    "munderover mtable mtr mtd mstyle mpadded mphantom menclose merror semantics annotation "
    "mmultiscripts mprescripts none".split()
)
#: Attributes kept on them (no ``href``: ``\\href{javascript:...}`` must not become a link).
MATHML_ATTRIBUTES = frozenset(
    "xmlns display mathvariant stretchy fence separator lspace rspace width height depth "
    "linethickness accent accentunder movablelimits columnalign columnspacing rowspacing "
    "displaystyle scriptlevel minsize maxsize symmetric largeop form notation encoding".split()
)

#: Replaces nbconvert's ``mathjax.html.j2`` (whose macro loads MathJax from a CDN), which
#: nbgrader's feedback template calls in its header: the maths is MathML already.
NO_MATHJAX = (
    "{%- macro mathjax(url='') -%}"
    "<!-- maths pre-rendered as MathML by autograde: no MathJax, no CDN -->"
    "{%- endmacro %}"
)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]  # "{http://www.w3.org/1998/Math/MathML}mi" -> "mi"


def tex_to_mathml(tex: str, display: bool = False) -> str | None:
    """One formula as MathML, or None where it cannot be rendered safely.

    Parameters
    ----------
    tex : str
        The TeX between the dollars.
    display : bool
        A display formula (``$$...$$``) rather than an inline one.

    Returns
    -------
    str or None
        ``<math ...>...</math>`` using only :data:`MATHML_TAGS` and :data:`MATHML_ATTRIBUTES`;
        None where latex2mathml fails, writes something that is not well-formed XML (e.g. a
        bare ``&``) or uses anything outside those lists: the caller then shows the TeX.
    """
    try:
        out = convert(tex, display="block" if display else "inline")
        root = ET.fromstring(out)
    except Exception:  # noqa: BLE001 - any failure of the converter means "show the TeX"
        return None
    for el in root.iter():
        if _local(el.tag) not in MATHML_TAGS:
            return None
        if any(_local(a) not in MATHML_ATTRIBUTES for a in el.attrib):
            return None
        if _local(el.tag) == "mi" and (el.text or "").startswith("\\"):
            return None  # an unknown command, e.g. \foo, printed as its name
    return out


class MathMLRenderer(IPythonRenderer):
    """nbconvert's Markdown renderer with the maths written as MathML instead of TeX.

    A formula :func:`tex_to_mathml` refuses is written as nbconvert writes it (escaped TeX).
    """

    def block_math(self, body: str) -> str:
        return tex_to_mathml(body, display=True) or super().block_math(body)

    def inline_math(self, body: str) -> str:
        return tex_to_mathml(body) or super().inline_math(body)

    def latex_environment(self, name: str, body: str) -> str:
        tex = f"\\begin{{{name}}}{body}\\end{{{name}}}"
        return tex_to_mathml(tex, display=True) or super().latex_environment(name, body)


def _locked(cell) -> bool:
    return bool(((cell or {}).get("metadata", {}).get("nbgrader") or {}).get("locked"))


#: Figures fit the page: a notebook's 12-inch figure (the "Try it out" cell's) is wider than
#: nbgrader's feedback column and would scroll the whole page sideways. A grade cell's heading
#: grows with its score: nbgrader fixes it at 37 px, so on a phone the score wraps below it,
#: white on the cell's white, and its float squeezes the code box.
PAGE_CSS = (
    "<style>.output_png img, .output_jpeg img {max-width: 100%; height: auto}"
    # a row of display equations wider than a phone scrolls by itself, not the whole page
    " math[display=block] {margin: 0.6em 0; overflow-x: auto; max-width: 100%}"
    " div.nbgrader_cell .panel-heading {height: auto; min-height: 37px; display: flow-root}"
    "</style>"
)


class FeedbackExporter(HTMLExporter):
    """nbconvert's HTML exporter for the feedback pages: maths as MathML, no MathJax from a CDN.

    ``autograde.feedback.generate_feedback`` sets it as ``GenerateFeedback.exporter_class``;
    nbgrader's feedback template and its configuration of ``HTMLExporter`` apply unchanged.
    """

    @default("extra_loaders")
    def _no_mathjax(self):
        return [DictLoader({"mathjax.html.j2": NO_MATHJAX})]

    def from_notebook_node(self, nb, resources=None, **kw):
        output, resources = super().from_notebook_node(nb, resources, **kw)
        at = output.find("</head>")
        if at >= 0:
            output = output[:at] + PAGE_CSS + "\n" + output[at:]
        return output, resources

    @pass_context
    def markdown2html(self, context, source):
        """Markdown to HTML as :class:`~nbconvert.exporters.HTMLExporter` does; in the course's
        locked cells the maths becomes MathML."""
        cell = context.get("cell", {})
        if not _locked(cell):
            return super().markdown2html(context, source)
        path = context.get("resources", {}).get("metadata", {}).get("path", "")
        renderer = MathMLRenderer(
            escape=False,
            attachments=cell.get("attachments", {}),
            embed_images=self.embed_images,
            path=path,
            anchor_link_text=self.anchor_link_text,
            exclude_anchor_links=self.exclude_anchor_links,
            **self.lexer_options,
        )
        return MarkdownWithMath(renderer=renderer).render(source)


__all__ = ["FeedbackExporter", "MathMLRenderer", "tex_to_mathml"]
