"""The project file as ``serve`` edits it: read with its hash, checked as ``serve`` checks
it at start, written atomically, its earlier versions kept.

- A file that holds a secret in clear (:func:`~mogulsync.config.loader.secrets_in_file`)
  is neither shown nor saved: the editor names the YAML paths instead.
- A save names the hash of the text it started from: a file changed on disk since then is
  not overwritten (:class:`StaleFileError`).
- The write goes to a temporary file in the same directory, given the file's mode, then
  renamed over it: a reader sees the old file or the new one, never half of either.
- The versions saved (and the one on disk before the first save through ``serve``) are
  kept in ``state_dir/project_history.sqlite``, the latest :data:`KEEP_VERSIONS`. Only
  texts that passed the secrets rule ever go in.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import difflib
import hashlib
import logging
import os
import re
import sqlite3
import stat
import tempfile
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from mogulsync.config import AppConfig
from mogulsync.config.loader import (
    Alternatives,
    ConfigValidationError,
    parse_config,
    secrets_in_file,
)
from mogulsync.config.yaml_file import YamlFileError, parse_yaml
from mogulsync.errors import ConfigError, MogulsyncError

logger = logging.getLogger(__name__)
HISTORY_FILE = "project_history.sqlite"
#: versions kept in the history (older ones are deleted as new ones come)
KEEP_VERSIONS = 20
#: who wrote a version found on disk (edited there, not saved through ``serve``)
ON_DISK = "on disk"
_LINE = re.compile(r"line (\d+)")


class StaleFileError(MogulsyncError):
    """The file changed on disk since the editor read it (409)."""


class UnreadableFileError(MogulsyncError):
    """The file on disk is not YAML the loader reads: the editor neither shows it nor
    keeps it, nor writes over it (409)."""

    def __init__(self, reason: str) -> None:
        super().__init__(
            f"The project file on disk cannot be read ({reason}). The editor does not show"
            " a file it cannot read, nor write over it: where a secret is in it cannot be"
            " told. Fix it on disk, then reload.",
        )


class UnwritableError(MogulsyncError):
    """The file (or the history beside it) cannot be written (422)."""


class LiteralSecretsError(ConfigError):
    """The text holds secrets in clear; ``paths`` says where (never the values)."""

    def __init__(self, paths: Sequence[str], *, on_disk: bool) -> None:
        self.paths = list(paths)
        where = "The project file on disk" if on_disk else "This text"
        super().__init__(
            f"{where} holds secrets written in clear at: {', '.join(self.paths)}."
            " The editor never shows or saves such a file: move each to an ${ENV} variable"
            " (e.g. api_key: ${CHARTMOGUL_API_KEY}) to enable editing.",
        )


@dataclass(frozen=True, slots=True)
class Problem:
    """One problem of the file, with its YAML path and line where known."""

    text: str
    path: str | None = None
    line: int | None = None

    def as_dict(self) -> dict[str, Any]:
        """As the API answers it."""
        return {"path": self.path, "line": self.line, "message": self.text}


@dataclass(slots=True)
class Checked:
    """A text checked as ``serve`` checks its file at start."""

    config: AppConfig | None
    problems: list[Problem] = field(default_factory=list)
    #: YAML paths of secrets written in clear (then ``config`` is None)
    literal_secrets: list[str] = field(default_factory=list)
    #: what a valid file's syncs would fail on at their run: mappings that do not fit
    #: their model's columns (``serve`` starts without asking the warehouses)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        """Whether ``serve`` would start with it."""
        return self.config is not None


@dataclass(frozen=True, slots=True)
class Version:
    """A version of the file kept in the history."""

    id: int
    saved_at: str
    role: str
    remote: str
    sha256: str
    text: str

    def as_dict(self) -> dict[str, Any]:
        """As the API lists it (without the text)."""
        return {
            "id": self.id,
            "saved_at": self.saved_at,
            "by": {"role": self.role, "remote": self.remote},
            "hash": self.sha256,
        }


def digest(data: bytes) -> str:
    """The hash an edit names to say which version it started from."""
    return hashlib.sha256(data).hexdigest()


class ProjectFile:
    """The project file ``serve`` was started with, and its history."""

    def __init__(self, path: Path, state_dir: Path) -> None:
        self.path = path.absolute()
        self._history = state_dir / HISTORY_FILE
        #: the hash of the version the server runs (read at start, then at each reload
        #: applied); another one on disk is not applied yet, or needs a restart
        self.applied: str | None = None
        with contextlib.suppress(MogulsyncError):
            self.applied = self.read()[1]

    def read(self) -> tuple[str, str]:
        """The file's text and hash (ConfigError: unreadable, or not UTF-8)."""
        try:
            data = self.path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"cannot read {self.path}: {exc.strerror}") from None
        try:
            return data.decode("utf-8"), digest(data)
        except UnicodeDecodeError as exc:
            raise ConfigError(f"{self.path} is not UTF-8 text (byte {exc.start})") from None

    def check(
        self, text: str, *, sections: Collection[str] | None = None, editing: bool = True
    ) -> Checked:
        """``text`` checked as ``load_config`` checks the file at ``serve``'s start (every
        section, every ``${ENV}`` set), problems with their line. ``editing``: also by the
        editor's secrets rule (a reload checks the file exactly as the start does)."""
        try:
            raw = parse_yaml(text, self.path) or {}
        except YamlFileError as exc:  # a key written twice may hold a secret: say where
            literal = _secrets_of(text) if editing else []
            return Checked(None, [_yaml_problem(str(exc))], literal)
        if not isinstance(raw, dict):
            return Checked(None, [Problem("the file must hold a mapping of sections")])
        literal = _secrets_of(text) if editing else []  # a key written twice: each value
        problems: list[Problem] = []
        config: AppConfig | None = None
        try:
            config = parse_config(
                raw, env=os.environ, source=self.path, sections=sections, base_dir=self.path.parent
            )
        except ConfigValidationError as exc:
            problems = [_problem(p) for p in exc.problems]
        except MogulsyncError as exc:
            problems = [Problem(exc.user_message)]
        # the loader refuses most of them itself: each path once
        said = {p.path for p in problems}
        problems = [
            *(
                Problem(
                    f"{path}: a secret written in clear; write ${{VARIABLE}} and export the value",
                    path,
                )
                for path in literal
                if path not in said
            ),
            *problems,
        ]
        if problems:
            return Checked(None, _located(problems, text), literal)
        return Checked(config)

    def check_mappings(self, checked: Checked, text: str) -> Checked:
        """``checked`` (a valid text) with the mapping problems ``mogulsync check`` finds
        by compiling each sync's model, as warnings (the warehouses are asked)."""
        if checked.config is None:
            return checked
        from mogulsync.sync.check import mapping_problems

        found = [_problem(problem) for problem in mapping_problems(checked.config)]
        checked.warnings = _located(found, text)
        return checked

    def write(self, text: str, expected_hash: str, *, role: str, remote: str) -> str:
        """Replace the file with ``text`` (checked by the caller) if it still has
        ``expected_hash``; keep the version replaced and the new one. The new hash.

        StaleFileError: the file changed since; LiteralSecretsError: the file on disk
        holds secrets in clear, UnreadableFileError: it cannot be read as YAML (nothing is
        written over what nobody could see).
        """
        current, current_hash = self.read()
        if current_hash != expected_hash:
            raise StaleFileError(
                "the project file changed on disk since this text was read from it:"
                " nothing was saved. Open it again to see the new version, then make"
                " your change there.",
            )
        on_disk = _secrets_of(current)
        if on_disk:
            raise LiteralSecretsError(on_disk, on_disk=True)
        broken = unreadable(current)
        if broken is not None:
            raise UnreadableFileError(broken)
        data = text.encode("utf-8")
        now = _now()
        try:  # the version replaced is kept before anything is written
            with self._open_history() as db:
                self._remember(db, current, current_hash, now, ON_DISK, "", only_if_new=True)
            _replace(self.path, data)
        except (OSError, sqlite3.Error) as exc:  # a read-only directory, a full disk
            raise UnwritableError(
                f"the project file cannot be written ({_reason(exc)}): nothing was saved"
            ) from None
        new_hash = digest(data)
        try:
            with self._open_history() as db:
                self._remember(db, text, new_hash, now, role, remote, only_if_new=False)
        except (OSError, sqlite3.Error) as exc:  # saved: the next save keeps it as found
            logger.warning("project history: the version saved is not kept: %s", _reason(exc))
        return new_hash

    def versions(self) -> list[Version]:
        """The versions kept, newest first."""
        if not self._history.exists():
            return []
        with self._open_history() as db:
            rows = db.execute(
                "SELECT id, saved_at, role, remote, sha256, text FROM versions ORDER BY id DESC"
            ).fetchall()
        return [Version(*row) for row in rows]

    def version(self, version_id: int) -> Version | None:
        """One kept version; None when there is no such one (or it was deleted)."""
        return next((v for v in self.versions() if v.id == version_id), None)

    @contextlib.contextmanager
    def _open_history(self) -> Any:
        self._history.parent.mkdir(parents=True, exist_ok=True)
        # the project's texts name hosts and users: readable by this user only
        self._history.touch(mode=0o600, exist_ok=True)
        db = sqlite3.connect(self._history)
        try:
            db.execute(
                "CREATE TABLE IF NOT EXISTS versions (id INTEGER PRIMARY KEY AUTOINCREMENT,"
                " saved_at TEXT NOT NULL, role TEXT NOT NULL, remote TEXT NOT NULL,"
                " sha256 TEXT NOT NULL, text TEXT NOT NULL)"
            )
            with db:
                yield db
        finally:
            db.close()

    @staticmethod
    def _remember(
        db: sqlite3.Connection,
        text: str,
        sha256: str,
        when: str,
        role: str,
        remote: str,
        *,
        only_if_new: bool,
    ) -> None:
        """Keep ``text`` as the newest version (``only_if_new``: unless it is already the
        newest: the file was not changed outside ``serve`` since its last save)."""
        if only_if_new:
            latest = db.execute("SELECT sha256 FROM versions ORDER BY id DESC LIMIT 1").fetchone()
            if latest is not None and latest[0] == sha256:
                return
        db.execute(
            "INSERT INTO versions (saved_at, role, remote, sha256, text) VALUES (?, ?, ?, ?, ?)",
            (when, role, remote, sha256, text),
        )
        db.execute(
            "DELETE FROM versions WHERE id NOT IN"
            " (SELECT id FROM versions ORDER BY id DESC LIMIT ?)",
            (KEEP_VERSIONS,),
        )


def diff(older: str, newer: str, older_name: str, newer_name: str) -> str:
    """A unified diff of two texts ("" when they are the same)."""
    return "".join(
        difflib.unified_diff(
            older.splitlines(keepends=True),
            newer.splitlines(keepends=True),
            fromfile=older_name,
            tofile=newer_name,
        )
    )


def literal_secrets_of(text: str) -> list[str]:
    """The YAML paths where ``text`` holds secrets in clear ([] when it cannot be read:
    the check says why; :func:`unreadable` keeps such a file on disk from being shown)."""
    return _secrets_of(text)


def unreadable(text: str) -> str | None:
    """Why ``text`` cannot be read as a project file's YAML (None: it can). The editor
    shows no such file on disk, nor keeps it: where its secrets are cannot be told (a
    ``${CHARTMOGUL_API_KEY:-sk_live...}`` above a broken line)."""
    try:
        raw = parse_yaml(text, Path("mogulsync.yml"))
    except YamlFileError as exc:
        return str(exc)
    if raw is not None and not isinstance(raw, dict):
        return "the file must hold a mapping of sections"
    return None


def _secrets_of(text: str) -> list[str]:
    try:
        # the size and syntax checks of the loader; a key written twice is refused by
        # the loader, but its first value may be the secret the scan must report
        parse_yaml(text, Path("mogulsync.yml"), keys_twice_allowed=True)
    except YamlFileError:
        return []
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if root is None:
        return []
    return secrets_in_file(_every_value(root, yaml.SafeLoader("")))


def _every_value(node: yaml.Node, builder: yaml.SafeLoader) -> Any:
    """The document as the loader builds it, but with every value of a key written twice
    (or merged in and written again), where YAML keeps only the last."""
    if isinstance(node, yaml.MappingNode):
        values: dict[str, list[Any]] = {}
        for key, value in _pairs(node):
            name = str(builder.construct_object(key, deep=True))
            values.setdefault(name, []).append(_every_value(value, builder))
        return {
            name: found[0] if len(found) == 1 else Alternatives(found)
            for name, found in values.items()
        }
    if isinstance(node, yaml.SequenceNode):
        return [_every_value(item, builder) for item in node.value]
    return builder.construct_object(node, deep=True)


def _pairs(node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
    """A mapping's keys and values, those a merge key (``<<: *base``) brings included."""
    found: list[tuple[yaml.Node, yaml.Node]] = []
    for key, value in node.value:
        if key.tag != "tag:yaml.org,2002:merge":
            found.append((key, value))
            continue
        merged = value.value if isinstance(value, yaml.SequenceNode) else [value]
        for part in merged:
            if isinstance(part, yaml.MappingNode):
                found.extend(_pairs(part))
    return found


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` over ``path`` atomically, keeping its mode (a symlink's target is
    written, so the link stays a link)."""
    target = path.resolve()
    mode = stat.S_IMODE(target.stat().st_mode)
    handle, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    temporary = Path(name)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        temporary.chmod(mode)
        temporary.replace(target)
    except BaseException:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    with contextlib.suppress(OSError):  # the rename itself outlives a power cut
        directory = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _reason(exc: BaseException) -> str:
    return exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _problem(text: str) -> Problem:
    """``path.to.key: message`` with its path split off (None when it names none)."""
    place, sep, _ = text.partition(": ")
    if sep and " " not in place and place:
        return Problem(text, place)
    return Problem(text)


def _yaml_problem(text: str) -> Problem:
    """A YAML syntax problem: PyYAML's message names the line (the last mark is where it
    went wrong; one before it says what it was reading)."""
    found = _LINE.findall(text)
    return Problem(text, None, int(found[-1]) if found else None)


def _located(problems: list[Problem], text: str) -> list[Problem]:
    """Each problem with the line of its YAML path (or of the nearest key above it)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return problems
    return [
        Problem(p.text, p.path, _line_of(root, p.path.split("."))) if p.path else p
        for p in problems
    ]


def _line_of(node: yaml.Node | None, parts: list[str]) -> int | None:
    """The 1-based line of the key at ``parts`` (keys may hold dots: the longest that
    matches wins); the deepest one found when the rest is missing."""
    line = None
    while node is not None and parts:
        child: yaml.Node | None = None
        if isinstance(node, yaml.MappingNode):
            for size in range(len(parts), 0, -1):
                wanted = ".".join(parts[:size])
                match = next(
                    ((k, v) for k, v in node.value if getattr(k, "value", None) == wanted), None
                )
                if match is not None:
                    line = match[0].start_mark.line + 1
                    child, parts = match[1], parts[size:]
                    break
        elif isinstance(node, yaml.SequenceNode) and parts[0].isdigit():
            index = int(parts[0])
            if index < len(node.value):
                child, parts = node.value[index], parts[1:]
                line = child.start_mark.line + 1
        node = child
    return line
