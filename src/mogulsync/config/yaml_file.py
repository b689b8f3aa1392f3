"""Read the project file's YAML safely: bounded alias expansion, errors that name the file.

A few hundred bytes of nested aliases (a "billion laughs" document) describe billions of
nodes; PyYAML builds them as shared references, but every later step that walks the tree
(``${ENV}`` substitution, validation) copies each one. The composed node graph is measured
first, with shared nodes counted once per use, and refused above a bound no real project
file comes near.
"""

from __future__ import annotations

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
    loader = yaml.SafeLoader(path.read_text(encoding="utf-8"))
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
        return loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise YamlFileError(f"not valid YAML: {exc}") from None
    except RecursionError:
        msg = f"YAML nested more than {MAX_DEPTH} levels deep"
        raise YamlFileError(msg) from None
    finally:
        loader.dispose()


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
