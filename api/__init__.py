"""The HTTP face of the dispatcher."""
