"""What the tests share: builders, fixtures, fake vendors, waiting. No test module imports
another test module; they all import from here."""
