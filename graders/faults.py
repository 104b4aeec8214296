"""Faults: what is wrong with a student's answer, read from its strings, with the advice for it.

A check measures behaviour ("vth relaxes faster than tau_th"); what to change depends on the
student's code, not on the check: bob's ``dvth/dt = (vth0 - vth)/tau`` with ``vth += vth_inc``
in reset fails the reduction check too, and telling him to raise vth in reset would contradict
what he wrote. So each assignment lists its faults (``<assignment>/faults.py``): a name, the
checks whose failure it can explain, a condition on the parsed strings (:class:`Answer`) and
the advice, worded from the student's own code. A failing check's message ends with the advice
of the faults found that explain it, and with none where no fault is found (the message then
says only what was measured).

The parsing here is plain Python ``ast`` on the validated strings (Brian's strings are Python
expressions), so a diagnosis costs nothing next to the simulation and loads no Brian.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Statement:
    """One statement of a statements field: ``target op expr`` (``op`` one of ``=``, ``+=``,
    ``-=``, ``*=``, ``/=``), with the names ``expr`` uses."""

    target: str
    op: str
    expr: str
    names: frozenset[str]

    @property
    def change(self) -> str:
        """The statement as an increment of its target: ``vth = vth + vth_inc`` and ``vth +=
        vth_inc`` both give ``"+vth_inc"``; ``x += -(e)`` and ``x -= e`` give ``"-e"``; ""
        when it is not an increment (``v = vr``)."""
        expr = self.expr.strip()
        if self.op == "=":
            m = re.fullmatch(rf"{re.escape(self.target)}\s*([-+])\s*(.+)", expr)
            if not m:
                m2 = re.fullmatch(rf"(.+?)\s*\+\s*{re.escape(self.target)}", expr)
                return f"+{m2.group(1).strip()}" if m2 else ""
            return f"{m.group(1)}{m.group(2).strip()}"
        if self.op in ("+=", "-="):
            neg = self.op == "-="
            m = re.fullmatch(r"-\s*\((.+)\)|-\s*(.+)", expr)
            if m:
                neg, expr = not neg, (m.group(1) or m.group(2)).strip()
            return ("-" if neg else "+") + expr
        return ""


@dataclass(frozen=True)
class Equation:
    """One line of an equations field: ``dv/dt = expr`` (``kind="diff"``), ``v = expr``
    (``"sub"``) or ``v : unit`` (``"param"``)."""

    var: str
    kind: str
    expr: str
    names: frozenset[str]
    flags: str = ""


def names_in(expr: str) -> frozenset[str]:
    """The identifiers an expression uses (``(vth0 - vth)/tau`` -> vth0, vth, tau)."""
    try:
        tree = ast.parse(expr.strip() or "0", mode="eval")
    except SyntaxError:
        return frozenset(re.findall(r"[A-Za-z_]\w*", expr))
    return frozenset(n.id for n in ast.walk(tree) if isinstance(n, ast.Name))


#: Brian's unit names as students write them after a number (``200*ms``, ``5*mV``, ``2*Hz``).
_UNIT = re.compile(r"[munpkMG]?(?:s|V|A|Hz|ohm|S|F|second|volt|amp|hertz|siemens|farad)")


def numbers_in(expr: str) -> list[str]:
    """The numbers written in an expression, as written with their unit (``200*ms``, ``0.2``),
    leaving out 0 and 1 (``x += 1``, ``-x/tau`` are not hard-coded parameters)."""
    text = expr.strip() or "0"
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return []
    out, used = [], set()
    for node in ast.walk(tree):
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Mult):
            pair = (node.left, node.right)
            if any(isinstance(n, ast.Constant) for n in pair) and any(
                isinstance(n, ast.Name) and _UNIT.fullmatch(n.id) for n in pair
            ):
                out.append(ast.get_source_segment(text, node) or ast.unparse(node))
                used |= {id(n) for n in ast.walk(node)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and id(node) not in used:
            if isinstance(node.value, (int, float)) and node.value not in (0, 1):
                out.append(ast.get_source_segment(text, node) or ast.unparse(node))
    return out


@dataclass
class Answer:
    """A validated spec, parsed: the equations by variable, the statements by field and the
    names of each expression field."""

    spec: dict
    equations: dict[str, Equation] = field(default_factory=dict)
    statements: dict[str, list[Statement]] = field(default_factory=dict)
    expressions: dict[str, frozenset[str]] = field(default_factory=dict)

    def assigned(self, fld: str, target: str) -> list[Statement]:
        """The statements of field ``fld`` that write ``target``."""
        return [s for s in self.statements.get(fld, []) if s.target == target]

    def depends(self, var: str) -> set[str]:
        """``var`` and the variables of the model its definition uses, transitively (``vth =
        vth0 + theta`` makes vth depend on theta)."""
        seen, todo = set(), [var]
        while todo:
            v = todo.pop()
            if v in seen:
                continue
            seen.add(v)
            eq = self.equations.get(v)
            if eq is not None and eq.kind == "sub":
                todo += [n for n in eq.names if n in self.equations]
        return seen

    def names_of(self, variables) -> set[str]:
        """Every name the definitions of ``variables`` use."""
        out: set[str] = set()
        for v in variables:
            eq = self.equations.get(v)
            if eq is not None:
                out |= eq.names
        return out


def _parse_equations(text: str) -> dict[str, Equation]:
    out = {}
    for raw in text.splitlines():
        line = raw.partition("#")[0].strip()
        if not line:
            continue
        body, _, rest = line.partition(":")
        flags = rest.partition("(")[2].rstrip(")")
        m = re.fullmatch(r"d\s*([A-Za-z_]\w*)\s*/\s*dt\s*=\s*(.+)", body.strip())
        if m:
            out[m.group(1)] = Equation(m.group(1), "diff", m.group(2), names_in(m.group(2)), flags)
            continue
        m = re.fullmatch(r"([A-Za-z_]\w*)\s*=\s*(.+)", body.strip())
        if m:
            out[m.group(1)] = Equation(m.group(1), "sub", m.group(2), names_in(m.group(2)), flags)
        elif re.fullmatch(r"[A-Za-z_]\w*", body.strip()):
            out[body.strip()] = Equation(body.strip(), "param", "", frozenset(), flags)
    return out


def _parse_statements(text: str) -> list[Statement]:
    out = []
    for raw in text.replace(";", "\n").splitlines():
        line = raw.partition("#")[0].strip()
        m = re.fullmatch(r"([A-Za-z_]\w*)\s*([-+*/]?=)\s*(.+)", line)
        if m:
            out.append(Statement(m.group(1), m.group(2), m.group(3), names_in(m.group(3))))
    return out


def parse(a, spec: dict) -> Answer:
    """``spec`` (validated: every field a string) as an :class:`Answer`, by the kinds of
    assignment ``a``'s fields."""
    answer = Answer(spec)
    for f in a.fields:
        text = spec.get(f.name) or ""
        if f.kind == "equations":
            answer.equations.update(_parse_equations(text))
        elif f.kind == "statements":
            answer.statements[f.name] = _parse_statements(text)
        elif f.kind == "expression":
            answer.expressions[f.name] = names_in(text)
    return answer


@dataclass(frozen=True)
class Fault:
    """One thing an answer can get wrong, and what to do about it.

    Parameters
    ----------
    name : str
        Short identifier (``decay_not_tau_th``), stable: banks name the main fault of an
        answer by it.
    checks : tuple of str
        The checks whose failure this fault can explain; its advice ends their messages.
    found : callable
        ``found(answer) -> str | None``: the advice when the answer has this fault (worded
        from the student's own strings, e.g. naming what they wrote), None otherwise.
    """

    name: str
    checks: tuple[str, ...]
    found: Callable[[Answer], str | None]


def diagnose(a, spec: dict) -> dict[str, str]:
    """The faults of ``spec`` (validated) under assignment ``a``: name -> advice, in the order
    of ``a.faults``."""
    answer = parse(a, spec)
    out = {}
    for fault in a.faults:
        advice = fault.found(answer)
        if advice:
            out[fault.name] = advice
    return out


def advice_for(a, found: dict[str, str], check: str) -> str:
    """The advice of the faults in ``found`` (:func:`diagnose`) that explain ``check``, one
    sentence each; "" when none does."""
    by_name = {f.name: f for f in a.faults}
    said = [text for name, text in found.items() if check in by_name[name].checks]
    return " ".join(s.rstrip(".") + "." for s in said)
