"""The unit costs of contacts (`domain.strategy_figures.UnitCosts`), from a TOML file.

The shipped file is `policies/unit_costs.toml`; `COLLECTIONS_UNIT_COSTS` names another
(`runtime.settings.unit_costs_path`). A mistake in the file is refused naming the file and
the key, before any figure is computed.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from domain.errors import InvalidInput
from domain.strategy_figures import UnitCosts, parse_unit_costs
from policies import POLICY_DIR, shown_path

UNIT_COSTS_FILE = POLICY_DIR / "unit_costs.toml"


def load_unit_costs(path: Path = UNIT_COSTS_FILE) -> UnitCosts:
    """The unit costs in `path`; `InvalidInput('<file>: <key>')` when the file is wrong (the
    file as given, relative to the checkout where it lies inside it, as routing names its)."""
    shown = shown_path(path)
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise InvalidInput(shown, f"cannot be read: {error.strerror or error}") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(shown, f"is not TOML: {error}") from None
    try:
        return parse_unit_costs(data)
    except InvalidInput as error:
        raise InvalidInput(f"{shown}: {error.field}", error.problem) from None
