"""What the preprocessors share: the notebook-metadata key and output builders."""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode

#: Key in the notebook metadata where the pipeline records what happened (not student-facing).
META = "autograde"


def notebook_meta(nb: NotebookNode) -> dict:
    """The pipeline's record in ``nb``'s metadata (:data:`META`), made empty where missing."""
    if META not in nb.metadata:
        nb.metadata[META] = {}
    return nb.metadata[META]


def stream_output(text: str) -> NotebookNode:
    """A cell output that prints ``text`` on stdout."""
    return NotebookNode(output_type="stream", name="stdout", text=text)


def error_names(cell) -> set[str]:
    """The names of the errors among ``cell``'s outputs (``MemoryError``, ...)."""
    return {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}


def error_output(ename: str, message: str) -> NotebookNode:
    """A cell output that shows error ``ename`` with ``message`` (no traceback but it)."""
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[message])
