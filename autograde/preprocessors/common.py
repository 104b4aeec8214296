"""What the preprocessors share: the notebook-metadata key and output builders."""

from __future__ import annotations

from nbformat.notebooknode import NotebookNode

#: Key in the notebook metadata where the pipeline records what happened (not student-facing).
META = "autograde"


def _meta(nb: NotebookNode) -> dict:
    if META not in nb.metadata:
        nb.metadata[META] = {}
    return nb.metadata[META]


def _stream(text: str) -> NotebookNode:
    return NotebookNode(output_type="stream", name="stdout", text=text)


def _error_names(cell) -> set[str]:
    return {o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"}


def _error(ename: str, message: str) -> NotebookNode:
    return NotebookNode(output_type="error", ename=ename, evalue=message, traceback=[message])
