"""Read the project file's YAML safely: bounded alias expansion, errors that name the file.

A few hundred bytes of nested aliases (a "billion laughs" document) describe billions of
nodes; PyYAML builds them as shared references, but every later step that walks the tree
(``${ENV}`` substitution, validation) copies each one. The composed node graph is measured
first, with shared nodes counted once per use, and refused above a bound no real project
file comes near.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

#: nodes after alias expansion; a large project file (hundreds of syncs) has a few thousand
MAX_EXPANDED_NODES = 100_000
#: nesting levels; a project file has about six (``syncs.<name>.mapping.<field>``)
MAX_DEPTH = 100


class YamlFileError(ValueError):
    """The file is not YAML the loader will read; the message names the file and place."""


def read_yaml(path: Path) -> Any:
    """The document in ``path`` (``None`` when empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        msg = f"{path} is not UTF-8 text (byte {exc.start}); save it as UTF-8"
        raise YamlFileError(msg) from None
    return parse_yaml(text, path)


def parse_yaml(text: str, path: Path, *, keys_twice_allowed: bool = False) -> Any:
    """The document in ``text``, read as :func:`read_yaml` reads ``path`` (``serve``'s
    editor checks a file before it is written). ``keys_twice_allowed``: for the editor's
    secrets scan, which must see a file it would refuse anyway."""
    stream = io.StringIO(text)
    stream.name = str(path)  # the reader's marks name the file
    try:
        loader = yaml.SafeLoader(stream)  # reads ahead: a NUL or other control char fails here
    except yaml.YAMLError as exc:
        raise YamlFileError(_not_valid(exc)) from None
    loader.name = str(path)  # marks in error messages name the file, not "<unicode string>"
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        expanded = _expanded_size(node, {}, 0)
        if expanded is None:
            msg = (
                f"YAML aliases (*name) expand to more than {MAX_EXPANDED_NODES:,}"
                f" values or {MAX_DEPTH} levels; write the values out or use fewer nested"
                " aliases"
            )
            raise YamlFileError(msg)
        if not keys_twice_allowed and (twice := _key_written_twice(node)):
            raise YamlFileError(f"{path}: {twice}")
        try:
            return loader.construct_document(node)
        except ValueError as exc:  # e.g. a date 2024-13-45, an int of over 4,300 digits
            raise YamlFileError(f"{path}: {_unreadable_scalar(loader, node, exc)}") from None
    except yaml.YAMLError as exc:
        raise YamlFileError(_not_valid(exc)) from None
    except RecursionError:
        msg = f"YAML nested more than {MAX_DEPTH} levels deep"
        raise YamlFileError(msg) from None
    finally:
        loader.dispose()


#: PyYAML's words for a tab where indentation is read; editors insert them unseen
_TAB_FOUND = "found character '\\t' that cannot start any token"


def _not_valid(exc: yaml.YAMLError) -> str:
    """PyYAML's message (it names the file, line and column), with the fix for a tab."""
    message = f"not valid YAML: {exc}"
    if _TAB_FOUND in str(exc):
        message += "\n  YAML indents with spaces only: replace the tab there with spaces."
    return message


def _expanded_size(node: yaml.Node, sizes: dict[int, int], depth: int) -> int | None:
    """Nodes under ``node`` once every alias is expanded; ``None`` past the bound."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    if depth > MAX_DEPTH:  # a recursive alias (``&a [*a]``) or absurd nesting
        return None
    total = 1
    children: list[yaml.Node] = []
    if isinstance(node, yaml.SequenceNode):
        children = list(node.value)
    elif isinstance(node, yaml.MappingNode):
        children = [part for pair in node.value for part in pair]
    for child in children:
        size = _expanded_size(child, sizes, depth + 1)
        if size is None:
            return None
        total += size
        if total > MAX_EXPANDED_NODES:
            return None
    sizes[id(node)] = total
    return total


def _each_node(root: yaml.Node) -> Iterator[yaml.Node]:
    """Every node of the composed document once (an aliased node is shared, not copied)."""
    stack, seen = [root], set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node
        if isinstance(node, yaml.SequenceNode):
            stack.extend(node.value)
        elif isinstance(node, yaml.MappingNode):
            stack.extend(part for pair in node.value for part in pair)


#: ``<<: *defaults`` may appear more than once; the keys written beside it override it
_MERGE_TAG = "tag:yaml.org,2002:merge"


def _key_written_twice(root: yaml.Node) -> str | None:
    """Where a mapping repeats a key, if one does. PyYAML keeps the last value and drops
    the first without a word, so a sync block pasted twice, or a setting written again
    lower down, would silently replace the one the reader sees first."""
    for node in _each_node(root):
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], yaml.Node] = {}
            for key, _ in node.value:
                if not isinstance(key, yaml.ScalarNode) or key.tag == _MERGE_TAG:
                    continue
                earlier = first.setdefault((key.tag, key.value), key)
                if earlier is not key:
                    mark = key.start_mark
                    return (
                        f"line {mark.line + 1}, column {mark.column + 1}: the key"
                        f" `{key.value}` is written twice in one mapping (first on line"
                        f" {earlier.start_mark.line + 1}); YAML would keep only the last"
                        " one: remove or rename one of them"
                    )
    return None


def _unreadable_scalar(loader: yaml.SafeLoader, root: yaml.Node, error: ValueError) -> str:
    """Where the value PyYAML could not build is (line and column), and why."""
    for node in _each_node(root):
        if isinstance(node, yaml.ScalarNode):
            build = loader.yaml_constructors.get(node.tag)
            try:
                if build is not None:
                    build(loader, node)
            except ValueError as exc:
                mark = node.start_mark
                return (
                    f"line {mark.line + 1}, column {mark.column + 1}: the value cannot be read"
                    f" ({_short(exc)}); quote it to make it text, or fix it"
                )
    return f"a value cannot be read ({_short(error)}); quote it to make it text, or fix it"


def _short(error: ValueError) -> str:
    text = str(error)
    return text if len(text) <= 80 else text[:77] + "..."
