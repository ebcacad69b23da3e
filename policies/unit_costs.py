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

UNIT_COSTS_FILE = Path(__file__).parent / "unit_costs.toml"


def load_unit_costs(path: Path = UNIT_COSTS_FILE) -> UnitCosts:
    """The unit costs in `path`; `InvalidInput('<path>: <key>')` when the file is wrong."""
    try:
        with path.open("rb") as file:
            data = tomllib.load(file)
    except OSError as error:
        raise InvalidInput(str(path), f"cannot read the unit costs: {error.strerror}") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(str(path), f"not TOML: {error}") from None
    try:
        return parse_unit_costs(data)
    except InvalidInput as error:
        raise InvalidInput(f"{path}: {error.field}", error.problem) from None
