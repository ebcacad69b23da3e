"""Notification providers: each a small class with `deliver(message) -> Delivery`."""
