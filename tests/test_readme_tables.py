"""README.md's reference tables against the code they describe.

- The HTTP API table (section "HTTP API") lists exactly the operations of the OpenAPI document
  the app serves at /api/v1/openapi.json (method and path, one row each, no more, no fewer), and
  its auth column names the roles the view lets in.
- The command-line table (section "Command line") names every leaf command of ``trustsvc``
  (``trustsvc.cli:cli``), only real ones, and only options those commands have.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from api import create_app
from trustsvc.cli import cli

README = Path(__file__).resolve().parent.parent / "README.md"
METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
ROLES = {"admin", "issuer", "verifier", "peer", "wallet", "seal_manager"}


def section(title: str) -> str:
    text = README.read_text(encoding="utf-8")
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", text, flags=re.M | re.S)
    assert match, f"README.md has no '## {title}' section"
    return match.group(1)


def table_rows(text: str, first_header: str) -> list[list[str]]:
    """The body rows of the first table whose header's first cell is ``first_header``, split into
    cells on unescaped ``|``."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = _cells(line) if line.startswith("|") else []
        if cells and cells[0] == first_header:
            rows = []
            for row in lines[i + 2 :]:
                if not row.startswith("|"):
                    break
                rows.append(_cells(row))
            return rows
    raise AssertionError(f"no table headed '{first_header}'")


def _cells(line: str) -> list[str]:
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip().strip("|"))]


def code_spans(cell: str) -> list[str]:
    return [s.replace("\\|", "|") for s in re.findall(r"`([^`]+)`", cell)]


# -- the HTTP API table ---------------------------------------------------------------------------


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """SQLite only: the tables do not depend on the database."""
    return f"sqlite:///{tmp_path / 'test.db'}"


@pytest.fixture
def app(service: Any) -> Any:
    return create_app(service=service)


def readme_api_rows() -> dict[tuple[str, str], str]:
    """(METHOD, path) → the auth cell, from the README's API table."""
    out: dict[tuple[str, str], str] = {}
    for cells in table_rows(section("HTTP API"), "endpoint"):
        spans = code_spans(cells[0])
        assert len(spans) == 1, f"one operation per row, as `METHOD /path`: {cells[0]}"
        method, _, path = spans[0].partition(" ")
        assert method in METHODS and path.startswith("/") and " " not in path, f"not `METHOD /path`: {spans[0]}"
        assert (method, path) not in out, f"{method} {path} is listed twice"
        assert len(cells) == 3 and cells[1] and cells[2], f"a row needs auth and purpose: {cells}"
        out[(method, path)] = cells[1]
    return out


def openapi_operations(app: Any) -> set[tuple[str, str]]:
    doc = app.test_client().get("/api/v1/openapi.json").get_json()
    return {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops if method.upper() in METHODS}


def roles_named(cell: str) -> set[str]:
    named = set(re.findall(r"\b(admin|issuer|verifier|peer|wallet|seal_manager)\b", cell))
    return ROLES if "any key" in cell else named


def test_api_table_lists_exactly_the_openapi_operations(app: Any) -> None:
    documented = openapi_operations(app)
    listed = set(readme_api_rows())
    assert documented, "the OpenAPI document lists no operations"
    missing = sorted(documented - listed)
    extra = sorted(listed - documented)
    assert not missing and not extra, f"README API table: missing {missing}, not in the OpenAPI document {extra}"


def test_api_table_auth_column_matches_the_views(app: Any) -> None:
    """Where a view names its roles (``require_role``; admin keys always pass), the auth column
    names exactly those; where it names none, the column names no role (``–``, ``any key``)."""
    adapter = app.url_map.bind("localhost")
    wrong = []
    for (method, path), auth in readme_api_rows().items():
        endpoint, _ = adapter.match(re.sub(r"\{[^}]+\}", "x", path), method=method)
        required = getattr(app.view_functions[endpoint], "required_roles", None)
        if required is not None:
            if roles_named(auth) != set(required):
                wrong.append(f"{method} {path}: README says {auth!r}, the view lets in {sorted(required)}")
        elif "any key" not in auth and roles_named(auth):
            wrong.append(f"{method} {path}: README says {auth!r}, the view requires no role")
        elif "any key" not in auth and auth != "–":
            wrong.append(f"{method} {path}: README says {auth!r}; use '–' (no key) or 'any key'")
    assert not wrong, "\n".join(wrong)


# -- the command-line table -----------------------------------------------------------------------


def leaf_commands(
    group: click.Group = cli, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, cmd in sorted(group.commands.items()):
        if isinstance(cmd, click.Group):
            yield from leaf_commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def resolve(words: list[str]) -> tuple[tuple[str, ...], click.Command]:
    """The command ``trustsvc words…`` names (the longest run of command names)."""
    cmd: click.Command = cli
    path: list[str] = []
    for word in words:
        if not isinstance(cmd, click.Group) or word not in cmd.commands:
            break
        cmd = cmd.commands[word]
        path.append(word)
    return tuple(path), cmd


def readme_cli_spans() -> list[str]:
    spans = []
    for cells in table_rows(section("Command line"), "command"):
        row_spans = [s for s in code_spans(cells[0]) if s.startswith("trustsvc ")]
        assert row_spans, f"a command row names its commands as `trustsvc …`: {cells[0]}"
        spans += row_spans
    return spans


def test_cli_table_names_every_command_and_only_real_ones() -> None:
    leaves = dict(leaf_commands())
    listed: set[tuple[str, ...]] = set()
    problems = []
    global_options = {o for p in cli.params for o in (*p.opts, *getattr(p, "secondary_opts", ()))}
    for span in readme_cli_spans():
        path, cmd = resolve(span.split()[1:])
        if path not in leaves:
            problems.append(f"`{span}` names {' '.join(path) or 'no command'}, which is not a command")
            continue
        listed.add(path)
        options = {o for p in cmd.params for o in (*p.opts, *getattr(p, "secondary_opts", ()))} | global_options
        unknown = sorted(set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", span)) - options)
        if unknown:
            problems.append(f"`{span}`: trustsvc {' '.join(path)} has no option {', '.join(unknown)}")
    missing = sorted(" ".join(p) for p in set(leaves) - listed)
    assert not missing, f"README command table lacks: {missing}"
    assert not problems, "\n".join(problems)
    groups = {path[0] for path in leaves if len(path) > 1}
    assert groups <= {path[0] for path in listed}


def test_cli_table_includes_licence_issue() -> None:
    assert any(s.startswith("trustsvc licence issue ") for s in readme_cli_spans())
