"""Modal screens and the main screen."""
