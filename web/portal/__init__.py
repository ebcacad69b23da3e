"""The borrower's own pages: signed links, the second factor, what they owe and what they can do."""
