"""Themes: TOML files holding the fields of a Textual ``Theme``.

The shipped ones live in the package (``watui/themes`` in a wheel; the repo-root ``themes/``
in a source checkout or an editable install), the user's in ``<config dir>/themes/``. A user
theme with a shipped theme's name replaces it. A broken file is skipped with a one-line
warning naming it; the caller then falls back to ``watui-dark``.

A theme file::

    name = "my-theme"          # optional: the file name without .toml
    dark = true
    primary = "#25D366"        # required; every other colour is optional
    secondary = "#128C7E"
    ...
    [variables]                # optional Textual/app variables, literal values
    "footer-key-foreground" = "#25D366"
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from textual.color import Color, ColorParseError
from textual.theme import Theme

FALLBACK_THEME = "watui-dark"

COLOUR_FIELDS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
    "boost",
)
NUMBER_FIELDS = ("luminosity_spread", "text_alpha")
KNOWN_KEYS = ("name", "dark", *COLOUR_FIELDS, *NUMBER_FIELDS, "variables")


class ThemeFileError(ValueError):
    """What is wrong with a theme file, in one line."""


def packaged_themes_dir() -> Path | None:
    """The shipped themes: ``watui/themes`` when installed from a wheel, else the repo root's
    ``themes/`` (source checkout, editable install). None if neither exists."""
    try:
        packaged = resources.files("watui") / "themes"
        if packaged.is_dir():
            return Path(str(packaged))
    except (ModuleNotFoundError, TypeError, NotADirectoryError):
        pass
    checkout = Path(__file__).resolve().parents[2] / "themes"
    return checkout if checkout.is_dir() else None


def _colour(key: str, value: object) -> str:
    if not isinstance(value, str):
        raise ThemeFileError(f"{key}: expected a colour string like \"#25D366\", got {type(value).__name__}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(f"{key}: {value!r} is not a colour (use #RRGGBB, rgb(...) or a name)") from None
    return value


def theme_from_dict(doc: dict[str, Any], default_name: str) -> Theme:
    """Validate a parsed theme file and build the Theme; raises ThemeFileError."""
    unknown = [key for key in doc if key not in KNOWN_KEYS]
    if unknown:
        raise ThemeFileError(f"unknown key {unknown[0]!r} (expected: {', '.join(KNOWN_KEYS)})")
    name = doc.get("name", default_name)
    if not isinstance(name, str) or not name.strip():
        raise ThemeFileError("name: expected a non-empty string")
    if "primary" not in doc:
        raise ThemeFileError("primary: required key missing")
    kwargs: dict[str, Any] = {"name": name.strip()}
    for key in COLOUR_FIELDS:
        if key in doc:
            kwargs[key] = _colour(key, doc[key])
    dark = doc.get("dark", True)
    if not isinstance(dark, bool):
        raise ThemeFileError(f"dark: expected true or false, got {type(dark).__name__}")
    kwargs["dark"] = dark
    for key in NUMBER_FIELDS:
        if key in doc:
            value = doc[key]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ThemeFileError(f"{key}: expected a number")
            kwargs[key] = float(value)
    variables = doc.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError("variables: expected a table")
    checked: dict[str, str] = {}
    for key, value in variables.items():
        if not isinstance(value, str):
            raise ThemeFileError(f"variables.{key}: expected a string")
        if value.lstrip().startswith("$"):
            # Textual 8 does not resolve references in theme variables
            raise ThemeFileError(f"variables.{key}: {value!r}: use a literal colour, not a reference")
        if value.startswith(("#", "rgb", "hsl")):
            _colour(f"variables.{key}", value)
        checked[key] = value
    kwargs["variables"] = checked
    return Theme(**kwargs)


def load_theme_file(path: Path) -> Theme:
    """One theme file; raises ThemeFileError with a message that does not name the file."""
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ThemeFileError(f"not UTF-8 text (byte {exc.start})") from None
    except OSError as exc:
        raise ThemeFileError(f"cannot read: {exc.strerror or exc}") from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"invalid TOML: {exc}") from None
    return theme_from_dict(doc, path.stem)


def _load_dir(directory: Path, themes: dict[str, Theme], warnings: list[str]) -> None:
    try:
        files = sorted(p for p in directory.glob("*.toml") if p.is_file())
    except OSError as exc:
        warnings.append(f"{directory}: cannot list themes: {exc.strerror or exc}")
        return
    seen: set[str] = set()
    for path in files:
        try:
            theme = load_theme_file(path)
        except ThemeFileError as exc:
            warnings.append(f"theme {path}: {exc}; skipped")
            continue
        if theme.name in seen:
            warnings.append(f"theme {path}: another file here is already named {theme.name!r}; skipped")
            continue
        seen.add(theme.name)
        themes[theme.name] = theme  # a user theme replaces a shipped one of the same name


def load_themes(user_dir: Path | None) -> tuple[list[Theme], list[str]]:
    """Every shipped theme, then every theme in ``user_dir`` (if it exists).

    Returns (themes, warnings): one warning line per skipped file, naming it and the problem.
    """
    themes: dict[str, Theme] = {}
    warnings: list[str] = []
    shipped = packaged_themes_dir()
    if shipped is None:
        warnings.append("the shipped themes are missing from this installation")
    else:
        _load_dir(shipped, themes, warnings)
    if user_dir is not None and user_dir.is_dir():
        _load_dir(user_dir, themes, warnings)
    return list(themes.values()), warnings


def pick_theme(themes: list[Theme], wanted: str) -> tuple[str, str | None]:
    """The theme name to use for ``wanted``, and a warning when it had to fall back."""
    names = {theme.name for theme in themes}
    if wanted in names:
        return wanted, None
    return FALLBACK_THEME, f"theme {wanted!r} not found; using {FALLBACK_THEME}"


__all__ = [
    "FALLBACK_THEME",
    "ThemeFileError",
    "load_theme_file",
    "load_themes",
    "packaged_themes_dir",
    "pick_theme",
    "theme_from_dict",
]
