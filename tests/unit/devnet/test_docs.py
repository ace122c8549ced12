"""docs/devnet.md cannot go stale: its endpoint tables and flag tables match the code.

The endpoint table lists each name with a mark under `/wallet` and/or
`/walletsolidity` and its methods; devnet's own table lists `/devnet/*` paths.
Both directions are checked: a route the router serves that the page misses,
and a row the router does not serve. The same for `python -m devnet` flags.
"""

from __future__ import annotations

import re
from pathlib import Path

from devnet.__main__ import build_parser
from devnet.api import create_app
from devnet.api_admin import install_admin
from devnet.server import Devnet, DevnetConfig

DOC = Path(__file__).resolve().parents[3] / "docs" / "devnet.md"
VIEWS = ("/wallet", "/walletsolidity")


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _rows(text: str, first_header: str) -> list[list[str]]:
    """The body rows of every markdown table whose first header cell is first_header."""
    rows: list[list[str]] = []
    header: list[str] | None = None
    for line in text.splitlines():
        if not line.startswith("|"):
            header = None
        elif header is None:
            header = _cells(line)
        elif header[0] == first_header and not line.startswith("|---"):
            rows.append(_cells(line))
    return rows


def _code(cell: str) -> str:
    found = re.fullmatch(r"`([^`]+)`", cell)
    assert found, f"not a code cell: {cell!r}"
    return found.group(1)


def _methods(cell: str) -> set[str]:
    return {method.strip() for method in cell.split(",")}


def documented_routes(text: str) -> set[tuple[str, str]]:
    """(method, path) of every route the page's endpoint tables list."""
    routes = set()
    for cells in _rows(text, "endpoint"):
        assert len(cells) == 5, f"an endpoint row has 5 cells: {cells}"
        name = _code(cells[0])
        marked = [view for view, mark in zip(VIEWS, cells[1:3], strict=True) if mark]
        assert marked, f"{name} is served on no view"
        routes |= {(m, f"{view}/{name}") for view in marked for m in _methods(cells[3])}
    for cells in _rows(text, "path"):
        routes |= {(method, _code(cells[0])) for method in _methods(cells[1])}
    assert routes, "no endpoint table found"
    return routes


def served_routes() -> set[tuple[str, str]]:
    devnet = Devnet(DevnetConfig(port=0))  # not started: only its chain and fault controller
    app = create_app(devnet.chain)
    install_admin(app, devnet.faults)
    return {(route.method, route.resource.canonical) for route in app.router.routes()}


def test_every_served_route_is_documented_and_nothing_else() -> None:
    documented, served = documented_routes(DOC.read_text()), served_routes()

    assert sorted(served - documented) == [], "served but missing from docs/devnet.md"
    assert sorted(documented - served) == [], "in docs/devnet.md but not served"


def test_every_flag_is_documented_and_nothing_else() -> None:
    documented = {
        option.split()[0]
        for cells in _rows(DOC.read_text(), "flag")
        for option in re.findall(r"`(-[^`]+)`", cells[0])
    }
    parser = build_parser()
    flags = {option for action in parser._actions for option in action.option_strings}

    assert sorted(flags - documented) == [], "a flag docs/devnet.md does not list"
    assert sorted(documented - flags) == [], "docs/devnet.md lists a flag that does not exist"


def test_the_checks_see_a_missing_row() -> None:
    text = DOC.read_text()
    without = "\n".join(
        line for line in text.splitlines() if not line.startswith("| `getblockbylimitnext`")
    )
    missing = served_routes() - documented_routes(without)
    assert missing == {
        (method, f"{view}/getblockbylimitnext") for method in ("GET", "POST") for view in VIEWS
    }
