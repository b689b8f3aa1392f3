"""Reading the project file's YAML: bounded alias expansion, errors naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mogulsync.config import ConfigValidationError, load_config
from mogulsync.config.yaml_file import MAX_DEPTH, YamlFileError, read_yaml
from mogulsync.errors import ConfigError


def _bomb(levels: int, fan_out: int) -> str:
    lines = [f"a0: &a0 [{', '.join(['x'] * fan_out)}]"]
    lines += [f"a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * fan_out)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_before_it_expands(tmp_path: Path) -> None:
    """9**9 values described in a few hundred bytes: refused, not built."""
    path = tmp_path / "bomb.yml"
    path.write_text(_bomb(9, 9), encoding="utf-8")
    assert path.stat().st_size < 500
    with pytest.raises(YamlFileError, match="expand to more than 100,000 values"):
        read_yaml(path)


def test_modest_aliases_still_work(tmp_path: Path) -> None:
    """Anchors used as YAML intends (shared settings) load as before."""
    path = tmp_path / "ok.yml"
    path.write_text(_bomb(3, 3), encoding="utf-8")
    assert read_yaml(path)["a2"] == [[["x"] * 3] * 3] * 3


def test_a_recursive_alias_and_deep_nesting_are_refused(tmp_path: Path) -> None:
    """``&a [*a]`` and thousands of nested brackets end in a clear error, no RecursionError."""
    path = tmp_path / "rec.yml"
    path.write_text("a: &a [*a]\n", encoding="utf-8")
    with pytest.raises(YamlFileError, match=f"or {MAX_DEPTH} levels"):
        read_yaml(path)
    path.write_text("x: " + "[" * 5000 + "]" * 5000 + "\n", encoding="utf-8")
    with pytest.raises(YamlFileError, match="nested more than"):
        read_yaml(path)


def test_yaml_errors_name_the_file_not_a_unicode_string(tmp_path: Path) -> None:
    """The parser's marks say which file holds the mistake."""
    path = tmp_path / "mogulsync.yml"
    path.write_text("chartmogul: [1, 2\nsyncs: 3\n", encoding="utf-8")
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path)
    text = str(caught.value)
    assert f'in "{path}", line 1' in text
    assert "<unicode string>" not in text


def test_a_directory_given_as_the_project_file_names_the_file_meant(tmp_path: Path) -> None:
    """`-c prod` (as git's -C takes a directory) said "config file prod not found"."""
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path)
    assert caught.value.message == f"config file {tmp_path} is a directory"
    assert caught.value.hint == f"Pass the project file itself: -c {tmp_path / 'mogulsync.yml'}."


def test_a_state_dir_that_cannot_be_created_is_a_config_problem(tmp_path: Path) -> None:
    """`state_dir: afile/state` ended every command in a FileNotFoundError traceback."""
    (tmp_path / "afile").write_text("not a directory")
    path = tmp_path / "mogulsync.yml"
    path.write_text('chartmogul: {api_key: "${K}"}\nstate_dir: afile/state\n')
    with pytest.raises(ConfigValidationError) as caught:
        load_config(path, env={"K": "k" * 20})
    state, blocker = tmp_path / "afile" / "state", tmp_path / "afile"
    assert caught.value.problems == [f"state_dir: {state} cannot be created: {blocker} is a file"]
    assert not (tmp_path / "afile" / "state").exists()


def test_a_reader_of_the_project_is_not_stopped_by_its_state_dir(tmp_path: Path) -> None:
    """`check` and `alerts test` write no state: a read-only checkout must still pass."""
    (tmp_path / "afile").write_text("not a directory")
    path = tmp_path / "mogulsync.yml"
    path.write_text('chartmogul: {api_key: "${K}"}\nstate_dir: afile/state\n')
    config = load_config(path, env={"K": "k" * 20}, writes_state=False)
    assert Path(config.state_dir) == tmp_path / "afile" / "state"


def test_a_tab_in_the_indentation_says_to_use_spaces(tmp_path: Path) -> None:
    """An editor's tab gave only PyYAML's "found character '\\t' that cannot start any
    token": the problem now also says what to do."""
    path = tmp_path / "mogulsync.yml"
    path.write_text("chartmogul:\n\tapi_key: ${CHARTMOGUL_API_KEY}\n", encoding="utf-8")
    with pytest.raises(YamlFileError) as caught:
        read_yaml(path)
    assert "line 2, column 1" in str(caught.value)
    assert "YAML indents with spaces only: replace the tab there with spaces." in str(caught.value)


def test_a_key_written_twice_is_refused_with_both_lines(tmp_path: Path) -> None:
    """PyYAML keeps the last of two equal keys and drops the first silently: a sync block
    pasted twice replaced the one above it."""
    path = tmp_path / "mogulsync.yml"
    path.write_text(
        "syncs:\n  customers:\n    model: a\n  plans:\n    model: b\n  customers:\n    model: c\n",
        encoding="utf-8",
    )
    with pytest.raises(YamlFileError) as refused:
        read_yaml(path)
    message = str(refused.value)
    assert str(path) in message
    assert "line 6, column 3" in message
    assert "`customers` is written twice" in message
    assert "first on line 2" in message


def test_merge_keys_and_overrides_are_not_duplicates(tmp_path: Path) -> None:
    path = tmp_path / "mogulsync.yml"
    path.write_text(
        "base: &base {mode: upsert, object: customer}\n"
        "extra: &extra {on_delete: ignore}\n"
        "syncs:\n"
        "  one: {<<: *base, mode: update}\n"
        "  two:\n"
        "    <<: *base\n"
        "    <<: *extra\n"
        "    model: m\n"
        "  '1': {model: a}\n"
        "  1: {model: b}\n",
        encoding="utf-8",
    )
    loaded = read_yaml(path)
    assert loaded["syncs"]["one"] == {"mode": "update", "object": "customer"}
    assert loaded["syncs"]["two"]["on_delete"] == "ignore"
