"""raytl: which English intermediate task best prepares a multilingual encoder for each cross-lingual target."""

__version__ = "0.1.0"
