"""Answer specs with their layout made canonical, so that answers typed alike share a build."""

from __future__ import annotations

import io
import re
import tokenize

_LAYOUT_TOKENS = {
    tokenize.NEWLINE,
    tokenize.NL,
    tokenize.INDENT,
    tokenize.DEDENT,
    tokenize.ENDMARKER,
    tokenize.COMMENT,
}
_WORD = "A-Za-z0-9_."
# For lines Python cannot tokenize: whitespace with a name or number on one side and an
# operator on the other, or next to a bracket or comma (removing it never joins two tokens)
_SPACE_AT_OPERATOR = re.compile(
    rf"(?<=[{_WORD}])[ \t]+(?=[^{_WORD}\s])|(?<=[^{_WORD}\s])[ \t]+(?=[{_WORD}])"
    r"|[ \t]+(?=[()\[\],])|(?<=[()\[\],])[ \t]+"
)


def _tokens(code: str) -> list[tuple[int, str, int, int]] | None:
    """Python's tokens of one line as (type, string, start, end) (an open bracket at its end is
    fine), or ``None``."""
    out = []
    try:
        for t in tokenize.generate_tokens(io.StringIO(code).readline):
            if t.type == tokenize.ERRORTOKEN:
                return None
            if t.type not in _LAYOUT_TOKENS:
                out.append((t.type, t.string, t.start[1], t.end[1]))
    except tokenize.TokenError:
        pass  # end of input inside brackets: the tokens so far are complete
    except (SyntaxError, IndentationError):
        return None
    return out


def _same(a, b) -> bool:
    return a is not None and b is not None and [t[:2] for t in a] == [t[:2] for t in b]


def _compact(code: str) -> str:
    """``code`` (one line) without the spaces its tokens do not need."""
    toks = _tokens(code)
    if not toks:
        return _SPACE_AT_OPERATOR.sub("", code)
    out = toks[0][1]
    for prev, tok in zip(toks, toks[1:], strict=False):
        glued = _tokens(prev[1] + tok[1])
        # a needed space is kept as it was typed: Brian reads 'unless  refractory' differently
        out += tok[1] if _same(glued, [prev, tok]) else code[prev[3] : tok[2]] + tok[1]
    return out if _same(_tokens(out), toks) else _SPACE_AT_OPERATOR.sub("", code)


def normalise_code(text: str) -> str:
    """``text`` with only its layout made canonical, for the cache key.

    Comments, blank lines and indentation are dropped, and within a line every space that
    separates nothing (``v>vth`` and ``v > vth``, ``dv/dt=-v/tau`` and ``dv/dt = -v/tau``): a
    space is removed only where the line still splits into the same Python tokens without it.
    Spaces that separate two tokens are kept exactly as typed (Brian's equation flags are
    sensitive to them). Statements keep their order and nothing else is rewritten, so two
    fields normalise alike only when they are the same code.
    """
    lines = []
    for raw in text.splitlines():
        code = raw.partition("#")[0].strip()
        if code:
            lines.append(_compact(code))
    return "\n".join(lines)


def normalise_expression(text: str) -> str:
    """An expression field (a threshold) with only the spaces inside it made canonical.

    Brian parses the string as it is: a leading space is an "unexpected indent", and a comment
    or a second line is not checked here, so those keep the text as typed.
    """
    body = text.strip()
    if not body or "#" in text or "\n" in body:
        return text
    head, tail = text[: len(text) - len(text.lstrip())], text[len(text.rstrip()) :]
    return head + _compact(body) + tail


def normalise_spec(spec: dict, kinds: dict[str, str] | None = None) -> dict:
    """Every string field of ``spec`` with its layout made canonical, for the cache key.

    ``kinds`` maps field names to the assignment's field kinds: equations and statements go
    through :func:`normalise_code` (Brian ignores their indentation, blank lines and comments),
    expressions through :func:`normalise_expression`, anything else stays as it is.
    """
    kinds = kinds or {}
    out = {}
    for k, v in spec.items():
        kind = kinds.get(k, "equations")
        if not isinstance(v, str) or kind not in ("equations", "statements", "expression"):
            out[k] = v
        elif kind == "expression":
            out[k] = normalise_expression(v)
        else:
            out[k] = normalise_code(v)
    return out
