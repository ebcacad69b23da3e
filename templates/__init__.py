"""Notice texts as data: one file per template and locale, `templates/{locale}/{name}.toml`,
beside the words each locale shares (`templates/{locale}/_locale.toml`) and the lender's
profile (`templates/lender.toml`, or the file the `LENDER_PROFILE` variable names).

Everything is read and checked once, at first use (a policy's load, a worker's first notice),
by the rules of `domain.notices`; a mistake is an `InvalidInput` naming its file and key. A
worker picks up edited texts when it restarts. Rendering itself is pure.
"""

from __future__ import annotations

import functools
import os
import tomllib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from domain.case import LOCALES
from domain.errors import InvalidInput
from domain.notices import (
    TEXT_CHANNELS,
    ChannelText,
    LenderProfile,
    LocaleWords,
    NoticeFacts,
    compose_notice,
    parse_lender,
    parse_locale_words,
    parse_template,
    pick_locale,
)

TEMPLATE_DIR = Path(__file__).resolve().parent
LOCALE_FILE = "_locale.toml"
LENDER_FILE = "lender.toml"
LENDER_PROFILE_ENV = "LENDER_PROFILE"
DEFAULT_LOCALE = "zh-CN"

T = TypeVar("T")


@dataclass(frozen=True)
class TemplateSet:
    """Every template of every locale, checked; `directory` names files in errors."""

    directory: Path
    texts: dict[str, dict[str, dict[str, ChannelText]]]  # locale -> template -> channel -> text
    words: dict[str, LocaleWords]
    lenders: dict[str, LenderProfile]

    def names(self) -> list[str]:
        # The same in every locale: loading checks that.
        return sorted(next(iter(self.texts.values()), {}))

    def file_of(self, locale: str, template: str) -> str:
        return _shown(self.directory / locale / f"{template}.toml", self.directory)

    def check(self, uses: Iterable[tuple[str, str]], locales: Iterable[str] = LOCALES) -> None:
        """Each (template, channel) has a file in every locale, with a text for the channel;
        a channel that renders no text (legal) needs none."""
        for template, channel in uses:
            if channel not in TEXT_CHANNELS:
                continue
            for locale in locales:
                if locale not in self.texts:
                    raise InvalidInput(
                        _shown(self.directory / locale, self.directory),
                        f"no templates for locale {locale!r} (template {template!r})",
                    )
                texts = self.texts[locale].get(template)
                if texts is None:
                    raise InvalidInput(
                        self.file_of(locale, template),
                        f"no template {template!r}; known: {', '.join(self.names())}",
                    )
                if channel not in texts:
                    raise InvalidInput(
                        f"{self.file_of(locale, template)}: {channel}",
                        f"template {template!r} has no {channel} text",
                    )

    def render(
        self, template: str, channel: str, facts: NoticeFacts, *, opt_out_notice: bool = True
    ) -> str:
        if channel not in TEXT_CHANNELS:
            raise InvalidInput("channel", f"{channel!r} renders no text")
        locale = pick_locale(facts.locale, sorted(self.texts), DEFAULT_LOCALE)
        self.check([(template, channel)], [locale])
        texts = self.texts[locale][template][channel]
        notice = compose_notice(
            texts,
            channel,
            facts,
            locale=locale,
            lender=self.lenders[locale],
            words=self.words[locale],
            opt_out_notice=opt_out_notice,
        )
        return notice.as_message()


def load_templates(directory: Path, lender_file: Path) -> TemplateSet:
    """Read and check every template under `directory` (a folder per locale) and the lender's
    profile; every locale has the same templates, each with the same channels."""
    locale_dirs = sorted(path for path in directory.iterdir() if path.is_dir() and _is_locale(path))
    if not locale_dirs:
        raise InvalidInput(_shown(directory, directory), "no locale folders of templates")
    texts: dict[str, dict[str, dict[str, ChannelText]]] = {}
    words: dict[str, LocaleWords] = {}
    for locale_dir in locale_dirs:
        locale = locale_dir.name
        words[locale] = _parsed(locale_dir / LOCALE_FILE, directory, parse_locale_words)
        texts[locale] = {
            path.stem: _parsed(path, directory, parse_template)
            for path in sorted(locale_dir.glob("*.toml"))
            if not path.name.startswith("_")
        }
    _check_alike(texts, directory)
    lender_data = _read(lender_file, directory)
    lenders: dict[str, LenderProfile] = {}
    for locale in texts:
        shown = _shown(lender_file, directory)
        table = lender_data.get(locale)
        if not isinstance(table, dict):
            raise InvalidInput(f"{shown}: {locale}", "missing: the lender's profile in this locale")
        try:
            lenders[locale] = parse_lender(table)
        except InvalidInput as error:
            raise InvalidInput(f"{shown}: {locale}.{error.field}", error.problem) from None
    return TemplateSet(directory, texts, words, lenders)


@functools.cache
def loaded_templates() -> TemplateSet:
    """The shipped templates and the configured lender, read once per process."""
    lender_file = os.environ.get(LENDER_PROFILE_ENV) or TEMPLATE_DIR / LENDER_FILE
    return load_templates(TEMPLATE_DIR, Path(lender_file))


def known_templates() -> list[str]:
    """The names of the template files (the same in every locale)."""
    return loaded_templates().names()


def check_templates(uses: Iterable[tuple[str, str]], locales: Iterable[str] = LOCALES) -> None:
    """Every (template, channel) a policy uses has a text in every locale a borrower may have;
    raises `InvalidInput` naming the missing file."""
    loaded_templates().check(uses, locales)


def render_notice(
    template: str, channel: str, facts: NoticeFacts, *, opt_out_notice: bool = True
) -> str:
    """The text of a notice for one borrower in their locale (an email's subject on its first
    line); with `opt_out_notice`, an SMS or email ends with how to opt out of it."""
    return loaded_templates().render(template, channel, facts, opt_out_notice=opt_out_notice)


def _is_locale(path: Path) -> bool:
    return not path.name.startswith(("_", "."))


def _check_alike(texts: dict[str, dict[str, dict[str, ChannelText]]], directory: Path) -> None:
    """A template missing in one locale, or a channel missing in one locale's file, would
    leave some borrowers without the notice."""
    for locale, templates in texts.items():
        for other_locale, other_templates in texts.items():
            for name, channels in other_templates.items():
                path = _shown(directory / locale / f"{name}.toml", directory)
                if name not in templates:
                    raise InvalidInput(path, f"missing: {other_locale} has template {name!r}")
                for channel in channels:
                    if channel not in templates[name]:
                        raise InvalidInput(
                            f"{path}: {channel}", f"missing: {other_locale} has a {channel} text"
                        )


def _parsed(path: Path, directory: Path, parse: Callable[[dict[str, Any]], T]) -> T:
    data = _read(path, directory)
    try:
        return parse(data)
    except InvalidInput as error:
        raise InvalidInput(f"{_shown(path, directory)}: {error.field}", error.problem) from None


def _read(path: Path, directory: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except FileNotFoundError:
        raise InvalidInput(_shown(path, directory), "missing file") from None
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(_shown(path, directory), f"not valid TOML: {error}") from None


def _shown(path: Path, directory: Path) -> str:
    """A path as an operator finds it: from the templates folder's parent when inside it."""
    try:
        return path.relative_to(directory.parent).as_posix()
    except ValueError:
        return str(path)
