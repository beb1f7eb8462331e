"""Structure-aware DER mutation for Hypothesis: parse a real DER value into its TLV tree (with
asn1crypto's parser), change a few nodes, and emit it again with every length recomputed.

Byte flips mostly break an outer length and die in the first parser check; these mutants are
well-formed DER with a wrong piece inside, so they reach the code that reads the fields.
OCTET STRINGs and BIT STRINGs whose contents are DER themselves (extensions, eContent, the
certificates inside a seal) are opened too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from asn1crypto import core, parser
from hypothesis import strategies as st

__all__ = ["Node", "parse_tree", "emit_tree", "mutate_der", "mutate_node", "random_der"]

MAX_DEPTH = 24
_TIME_TEXTS = [
    "",
    "0",
    "991231235959Z",
    "000101000000Z",
    "20261301000000Z",
    "99991231235959Z",
    "19491001000000Z",
    "2026-01-01T00:00:00Z",
    "260230120000+0800",
    "2026010100",
    "Z",
]
_INTEGERS = [0, -1, 1, 2**31, 2**63, 2**64 + 1, -(2**64), 2**256, 10**40, 127, 128, 255, 256]


@dataclass
class Node:
    class_: int
    method: int
    tag: int
    contents: bytes = b""
    """Primitive contents (ignored when ``children`` is set)."""
    children: list[Node] | None = None
    """Constructed values, and primitive OCTET/BIT STRINGs holding DER."""
    prefix: bytes = b""
    """BIT STRING: the unused-bits byte before an encapsulated value."""

    @property
    def kids(self) -> list[Node]:
        """The children, for code that knows the node has them."""
        assert self.children is not None, self
        return self.children


def _split(data: bytes) -> list[bytes] | None:
    out = []
    while data:
        try:
            n = parser.peek(data)
        except (ValueError, TypeError):
            return None
        out.append(data[:n])
        data = data[n:]
    return out


def parse_tree(der: bytes, depth: int = 0) -> Node:
    """The TLV tree of one DER value (raises ValueError when ``der`` is not one)."""
    class_, method, tag, _header, contents, _trailer = parser.parse(der, strict=True)
    node = Node(class_, method, tag, contents)
    if depth >= MAX_DEPTH:
        return node
    if method == 1:
        parts = _split(contents)
        if parts is not None:
            try:
                node.children = [parse_tree(p, depth + 1) for p in parts]
            except ValueError:
                node.children = None
    elif class_ == 0 and tag in (3, 4) and contents:
        inner = contents[1:] if tag == 3 else contents
        if tag == 3 and contents[0] != 0:
            return node
        try:
            child = parse_tree(inner, depth + 1)
        except (ValueError, TypeError):
            return node
        if child.method == 1:  # only structured DER counts as encapsulated, not stray bytes
            node.children = [child]
            node.prefix = contents[:1] if tag == 3 else b""
    return node


def emit_tree(node: Node) -> bytes:
    if node.children is None:
        return parser.emit(node.class_, node.method, node.tag, node.contents)
    body = node.prefix + b"".join(emit_tree(c) for c in node.children)
    return parser.emit(node.class_, node.method, node.tag, body)


def _walk(node: Node, parent: Node | None, out: list[tuple[Node, Node | None]]) -> None:
    out.append((node, parent))
    for child in node.children or ():
        _walk(child, node, out)


def _copy(node: Node) -> Node:
    return Node(
        node.class_,
        node.method,
        node.tag,
        node.contents,
        None if node.children is None else [_copy(c) for c in node.children],
        node.prefix,
    )


def _primitive(value: core.Asn1Value) -> Node:
    return parse_tree(value.dump())


@st.composite
def random_der(draw: Any, depth: int = 0) -> Node:
    """A small random DER value: universal primitives, SEQUENCE/SET, context tags."""
    kinds = ["int", "octets", "oid", "utf8", "printable", "null", "bool", "bits", "utctime", "gentime", "raw"]
    if depth < 3:
        kinds += ["seq", "set", "context"]
    kind = draw(st.sampled_from(kinds))
    if kind == "int":
        return _primitive(core.Integer(draw(st.sampled_from(_INTEGERS) | st.integers())))
    if kind == "octets":
        return _primitive(core.OctetString(draw(st.binary(max_size=40))))
    if kind == "oid":
        arcs = draw(st.lists(st.integers(0, 2**40), min_size=1, max_size=8))
        first = draw(st.integers(0, 2))
        second = draw(st.integers(0, 39)) if first < 2 else draw(st.integers(0, 200))
        return _primitive(core.ObjectIdentifier(".".join(map(str, [first, second, *arcs]))))
    if kind == "utf8":
        return _primitive(core.UTF8String(draw(st.text(max_size=20))))
    if kind == "printable":
        return Node(0, 0, 19, draw(st.binary(max_size=20)))
    if kind == "null":
        return Node(0, 0, 5, draw(st.sampled_from([b"", b"\x00"])))
    if kind == "bool":
        return Node(0, 0, 1, draw(st.sampled_from([b"\x00", b"\xff", b"\x01", b"", b"\x00\x00"])))
    if kind == "bits":
        return Node(0, 0, 3, draw(st.binary(max_size=40)))
    if kind in ("utctime", "gentime"):
        return Node(
            0,
            0,
            23 if kind == "utctime" else 24,
            draw(st.sampled_from(_TIME_TEXTS)).encode() if draw(st.booleans()) else draw(st.binary(max_size=16)),
        )
    if kind == "raw":
        return Node(draw(st.integers(0, 3)), 0, draw(st.integers(0, 40)), draw(st.binary(max_size=24)))
    children = draw(st.lists(random_der(depth + 1), max_size=4))
    if kind == "context":
        return Node(2, 1, draw(st.integers(0, 8)), children=children)
    return Node(0, 1, 16 if kind == "seq" else 17, children=children)


def _new_contents(draw: Any, node: Node) -> bytes:
    if node.class_ == 0 and node.tag == 2:
        return core.Integer(draw(st.sampled_from(_INTEGERS) | st.integers())).contents
    if node.class_ == 0 and node.tag in (23, 24):
        return draw(st.sampled_from(_TIME_TEXTS)).encode()
    if node.class_ == 0 and node.tag == 6:
        return draw(st.sampled_from([b"", b"\x80", b"\x2a\x86", b"\x2a\x81\x1c\xcf\x55\x01\x83\x75", b"\xff" * 12]))
    choice = draw(st.sampled_from(["random", "empty", "truncate", "extend", "flip"]))
    if choice == "random":
        return draw(st.binary(max_size=64))
    if choice == "empty":
        return b""
    if choice == "truncate":
        return node.contents[: draw(st.integers(0, max(0, len(node.contents) - 1)))]
    if choice == "extend":
        return node.contents + draw(st.binary(min_size=1, max_size=300))
    if not node.contents:
        return b"\x00"
    i = draw(st.integers(0, len(node.contents) - 1))
    return node.contents[:i] + bytes([node.contents[i] ^ (1 << draw(st.integers(0, 7)))]) + node.contents[i + 1 :]


def _mutate_once(draw: Any, root: Node) -> Node:
    nodes: list[tuple[Node, Node | None]] = []
    _walk(root, None, nodes)
    target, parent = nodes[draw(st.integers(0, len(nodes) - 1))]
    ops = ["contents", "tag", "replace", "graft"]
    if parent is not None and parent.children:
        ops += ["drop", "dup", "swap"]
    if target.children is not None:
        ops += ["flatten", "add"]
    op = draw(st.sampled_from(ops))
    siblings = parent.children if parent is not None and parent.children is not None else None
    if op == "contents":
        if target.method == 1:  # constructed: new children
            target.children = [_copy(nodes[draw(st.integers(0, len(nodes) - 1))][0]), draw(random_der())]
        else:
            target.children = None
            target.contents = _new_contents(draw, target)
    elif op == "tag":
        target.tag = draw(st.sampled_from([1, 2, 3, 4, 5, 6, 12, 16, 17, 19, 22, 23, 24, 30, 0, 31, 100]))
        target.class_ = draw(st.sampled_from([target.class_, 0, 2]))
        if target.children is None:
            target.method = 0
    elif op in ("replace", "graft"):
        new = draw(random_der()) if op == "replace" else _copy(nodes[draw(st.integers(0, len(nodes) - 1))][0])
        if target is root:
            return new
        assert siblings is not None
        siblings[siblings.index(target)] = new
    elif op == "drop":
        assert siblings is not None
        siblings.remove(target)
    elif op == "dup":
        assert siblings is not None
        siblings.insert(siblings.index(target), _copy(target))
    elif op == "swap":
        assert siblings is not None
        i, j = siblings.index(target), draw(st.integers(0, len(siblings) - 1))
        siblings[i], siblings[j] = siblings[j], siblings[i]
    elif op == "flatten":
        target.contents = b"".join(emit_tree(c) for c in target.children or ())
        target.children = None
    elif op == "add":
        assert target.children is not None
        target.children.insert(draw(st.integers(0, len(target.children))), draw(random_der()))
    return root


@st.composite
def mutate_der(draw: Any, seeds: list[bytes], max_changes: int = 3) -> bytes:
    """A seed from ``seeds`` with 1..``max_changes`` structural changes, re-encoded as DER."""
    seed = seeds[draw(st.integers(0, len(seeds) - 1))]
    return emit_tree(mutate_node(draw, parse_tree(seed), max_changes))


def mutate_node(draw: Any, node: Node, max_changes: int = 3) -> Node:
    """``node`` (changed in place or replaced) after 1..``max_changes`` structural changes."""
    for _ in range(draw(st.integers(1, max_changes))):
        node = _mutate_once(draw, node)
    return node
