"""safeship: make shipping web services safe and boring."""

__version__ = "0.1.0"
