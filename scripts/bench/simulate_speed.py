"""How fast the simulator runs a large portfolio: `python scripts/bench/simulate_speed.py`.

It writes a portfolio CSV of LOANS loans (default 10,000; the columns of `starter.py import`)
to a temporary folder, runs it under one policy (default `default`) for 180 days with the
shipped behaviours, as `starter.py simulate` does, and prints one JSON object: the seconds the
run took and the target (at most 60 s for 10,000 loans over 180 days on this project's 2-core
machine). The portfolio is drawn from a fixed seed: every run simulates the same loans.

    python scripts/bench/simulate_speed.py [LOANS] [POLICY] [--csv PATH]

`--csv PATH` keeps the portfolio there, to simulate it again (`starter.py simulate PATH ...`).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import random
import sys
import tempfile
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(PROJECT_DIR))

from cli.demo import BEHAVIOURS, LEFT_TO_DESK  # noqa: E402
from cli.simulate import BEHAVIOURS_FILE, run_simulation  # noqa: E402
from policies.unit_costs import load_unit_costs  # noqa: E402

LOANS = 10_000
DAYS = 180
TARGET_SECONDS = 60.0
PORTFOLIO_SEED = 18
COLUMNS = (
    "loan_id",
    "borrower_id",
    "phone",
    "email",
    "address",
    "timezone",
    "currency",
    "overdue_amount_minor",
    "days_overdue",
    "portfolio",
    "segment",
)
# (timezone, currency, phone prefix), one of each for the portfolio's borrowers.
PLACES = (
    ("Asia/Shanghai", "CNY", "+86138"),
    ("America/New_York", "USD", "+1202555"),
    ("Europe/London", "GBP", "+44770090"),
)
# Mostly the default behaviour, and one of each of the demo's scripted ones (the desk's one
# aside: the simulator has no desk).
SEGMENTS = ("default", "default", "default", *(b for b in BEHAVIOURS if b != LEFT_TO_DESK))


def write_portfolio(path: Path, loans: int) -> None:
    """`loans` loans of about `loans * 0.8` borrowers (a fifth of them with a second loan),
    due 0 to 60 days ago, some without an email or an address."""
    draw = random.Random(PORTFOLIO_SEED)
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        borrower = 0
        for number in range(loans):
            if number == 0 or draw.random() >= 0.2:
                borrower += 1
            zone, currency, prefix = PLACES[borrower % len(PLACES)]
            writer.writerow(
                {
                    "loan_id": f"L-{number:06d}",
                    "borrower_id": f"B-{borrower:06d}",
                    "phone": f"{prefix}{borrower % 10**6:06d}",
                    "email": f"b{borrower}@example.com" if borrower % 7 else "",
                    "address": f"{borrower} Example Street" if borrower % 11 else "",
                    "timezone": zone,
                    "currency": currency,
                    "overdue_amount_minor": draw.randrange(10_000, 2_000_000),
                    "days_overdue": draw.randrange(0, 61),
                    "portfolio": "consumer",
                    "segment": draw.choice(SEGMENTS),
                }
            )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description="How fast the simulator runs a portfolio.")
    parser.add_argument("loans", type=int, nargs="?", default=LOANS)
    parser.add_argument("policy", nargs="?", default="default")
    parser.add_argument("--csv", type=Path, help="keep the portfolio in this file")
    args = parser.parse_args(argv[1:])
    loans, policy = args.loans, args.policy
    with tempfile.TemporaryDirectory() as folder:
        portfolio = args.csv or Path(folder) / "portfolio.csv"
        write_portfolio(portfolio, loans)
        report = run_simulation(
            portfolio,
            [policy],
            behaviours_path=BEHAVIOURS_FILE,
            days=DAYS,
            seed=1,
            start_day=None,
            unit_costs=load_unit_costs(),
        )
    run = report.runs[0]
    figures = run.result.figures
    target = TARGET_SECONDS * loans / LOANS
    print(
        json.dumps(
            {
                "loans": loans,
                "days": DAYS,
                "policy": policy,
                "seconds": round(run.seconds, 2),
                "target_seconds": target,
                "met": run.seconds <= target,
                "ms_per_loan": round(run.seconds * 1000 / loans, 3),
                "contacts": sum(figures.contacts.values()),
                "recovery_rate": round(figures.recovery_rate.value or 0.0, 4),
                "machine": f"{platform.machine()}, Python {platform.python_version()}",
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main(sys.argv)
