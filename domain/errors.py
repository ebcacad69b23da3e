"""The one error type of the domain: bad input, naming the field at fault."""


class InvalidInput(ValueError):
    """Raised by every parser in `domain/`; `field` is a dotted path such as `borrower.phone`."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem
