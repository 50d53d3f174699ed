"""Themes: every shipped theme loads and applies; broken user themes are skipped with one line
naming the file and the problem; user themes can replace shipped ones."""

from __future__ import annotations

from pathlib import Path

import pytest
from textual.app import App
from textual.widgets import Static

from watui.ui.themes import (
    FALLBACK_THEME,
    load_theme_file,
    load_themes,
    packaged_themes_dir,
    pick_theme,
)

REPO_THEMES = Path(__file__).resolve().parent.parent / "themes"
SHIPPED = sorted(p.stem for p in REPO_THEMES.glob("*.toml"))


def test_packaged_dir_is_found_in_a_checkout() -> None:
    directory = packaged_themes_dir()
    assert directory is not None
    assert sorted(p.stem for p in directory.glob("*.toml")) == SHIPPED


def test_all_shipped_themes_load() -> None:
    themes, warnings = load_themes(None)
    assert warnings == []
    names = {theme.name for theme in themes}
    assert names == set(SHIPPED)
    assert {"watui-dark", "watui-light", "solarized-dark", "high-contrast"} <= names
    dark = next(t for t in themes if t.name == "watui-dark")
    assert dark.primary == "#25D366" and dark.background == "#0B141A" and dark.dark
    light = next(t for t in themes if t.name == "watui-light")
    assert light.dark is False


async def test_shipped_themes_apply_in_an_app() -> None:
    themes, _ = load_themes(None)

    class ThemeApp(App[None]):
        def compose(self):
            yield Static("hello")

    app = ThemeApp()
    async with app.run_test(size=(40, 5)) as pilot:
        for theme in themes:
            app.register_theme(theme)
        for theme in themes:
            app.theme = theme.name
            await pilot.pause()
            assert app.current_theme.name == theme.name


def _write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.write_text(text, encoding="utf-8")
    return path


GOOD = 'name = "mine"\ndark = true\nprimary = "#112233"\nbackground = "#000000"\n'


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('name = "x"\nprimary = "#112233\n', "invalid TOML"),
        ('name = "x"\nprimary = "#112233"\nsparkle = "#ffffff"\n', "unknown key 'sparkle'"),
        ('name = "x"\nprimary = "#11223"\n', "primary: '#11223' is not a colour"),
        ('name = "x"\nprimary = "#112233"\nsurface = 12\n', "surface: expected a colour string"),
        ('name = "x"\nbackground = "#000000"\n', "primary: required key missing"),
        ('name = "x"\nprimary = "#112233"\ndark = "yes"\n', "dark: expected true or false"),
        ('name = "x"\nprimary = "#112233"\n[variables]\nbubble = "$primary 30%"\n', "literal colour"),
        ('name = "x"\nprimary = "#112233"\n[variables]\nbubble = "#zzzzzz"\n', "variables.bubble"),
    ],
)
def test_broken_user_theme_warns_and_is_skipped(tmp_path: Path, text: str, problem: str) -> None:
    _write(tmp_path, "good.toml", GOOD)
    broken = _write(tmp_path, "broken.toml", text)
    themes, warnings = load_themes(tmp_path)
    names = {theme.name for theme in themes}
    assert "mine" in names and "x" not in names
    assert FALLBACK_THEME in names  # the fallback is always there
    assert len(warnings) == 1
    warning = warnings[0]
    assert str(broken) in warning and problem in warning
    assert "\n" not in warning


def test_app_falls_back_when_the_configured_theme_is_broken(tmp_path: Path) -> None:
    _write(tmp_path, "neon.toml", 'name = "neon"\nprimary = "not-a-colour"\n')
    themes, warnings = load_themes(tmp_path)
    assert warnings and "neon.toml" in warnings[0]
    assert pick_theme(themes, "neon") == (FALLBACK_THEME, f"theme 'neon' not found; using {FALLBACK_THEME}")
    assert pick_theme(themes, "watui-light") == ("watui-light", None)


def test_user_theme_replaces_a_shipped_one_and_name_defaults_to_stem(tmp_path: Path) -> None:
    _write(tmp_path, "override.toml", 'name = "watui-dark"\nprimary = "#FF0000"\n')
    _write(tmp_path, "ocean.toml", 'primary = "#0000FF"\n[variables]\n"footer-key-foreground" = "#00FF00"\n')
    themes, warnings = load_themes(tmp_path)
    assert warnings == []
    by_name = {theme.name: theme for theme in themes}
    assert by_name["watui-dark"].primary == "#FF0000"
    assert by_name["ocean"].variables == {"footer-key-foreground": "#00FF00"}


def test_duplicate_names_in_one_dir_are_reported(tmp_path: Path) -> None:
    _write(tmp_path, "a.toml", GOOD)
    second = _write(tmp_path, "b.toml", GOOD)
    _, warnings = load_themes(tmp_path)
    assert len(warnings) == 1 and str(second) in warnings[0] and "'mine'" in warnings[0]


def test_missing_user_dir_is_fine(tmp_path: Path) -> None:
    themes, warnings = load_themes(tmp_path / "nope")
    assert warnings == [] and len(themes) == len(SHIPPED)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "bin.toml"
    path.write_bytes(b"name = '\xff'\n")
    _, warnings = load_themes(tmp_path)
    assert warnings == [f"theme {path}: not UTF-8 text (byte 8); skipped"]
    with pytest.raises(ValueError):
        load_theme_file(path)
