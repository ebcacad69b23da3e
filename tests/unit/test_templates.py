"""Notice templates as data: every template renders in every locale with what the borrower must
read, and a broken or missing template file stops loading, naming the file."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

import policies
import templates
from domain.debt import Parts
from domain.errors import InvalidInput
from domain.money import format_amount, format_money
from domain.notices import NoticeFacts, pick_locale
from policies import load_policy
from templates import (
    TEMPLATE_DIR,
    TemplateSet,
    check_templates,
    known_templates,
    load_templates,
    loaded_templates,
    render_notice,
)

# Written here, not taken from the loader's list, so a word dropped from that list still fails.
THREATS_AND_THIRD_PARTIES = (
    "jail",
    "arrest",
    "prison",
    "police",
    "family",
    "employer",
    "neighbo",
    "坐牢",
    "拘留",
    "公安",
    "警察",
    "家人",
    "单位",
    "同事",
    "邻居",
)
NAMES = {"zh-CN": "王小明", "en": "Ann Lee"}
AMOUNTS = {
    ("zh-CN", "CNY"): "¥5,000.00",
    ("en", "CNY"): "CN¥5,000.00",
    ("zh-CN", "USD"): "US$1,200.00",
    ("en", "USD"): "$1,200.00",
}
OUTSTANDING = {"CNY": 500_000, "USD": 120_000}
DAYS_PAST_DUE = {"zh-CN": "逾期 {dpd} 天", "en": "{dpd} days past due"}
OPT_OUT = {
    ("zh-CN", "sms"): "回复TD退订短信",
    ("en", "sms"): "Reply STOP to opt out of text messages",
    ("zh-CN", "email"): "请回复“退订”",
    ("en", "email"): "reply UNSUBSCRIBE",
}
TEMPLATE_CHANNELS = [
    (name, channel)
    for name in sorted(loaded_templates().texts["en"])
    for channel in loaded_templates().texts["en"][name]
]


@pytest.fixture
def template_copy(tmp_path: Path) -> Path:
    """A copy of the shipped templates to break: `tpl/{locale}/...` and `tpl/lender.toml`."""
    copy = tmp_path / "tpl"
    shutil.copytree(TEMPLATE_DIR, copy, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    return copy


@pytest.fixture
def fresh_templates() -> Iterator[None]:
    """Templates read again (as a restarted worker would), and again after the test."""
    loaded_templates.cache_clear()
    yield
    loaded_templates.cache_clear()


def load(directory: Path) -> TemplateSet:
    return load_templates(directory, directory / "lender.toml")


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def facts(
    locale: str, currency: str, dpd: int = 7, name: str | None = "", parts: Parts | None = None
) -> NoticeFacts:
    borrower_name = NAMES[locale] if name == "" else name
    return NoticeFacts("L-1001", borrower_name, locale, dpd, OUTSTANDING[currency], currency, parts)


# -- what every notice says -------------------------------------------------------------------


def test_the_ladders_templates_and_channels_are_all_there() -> None:
    assert known_templates() == [
        "callback",
        "field_visit",
        "final_notice",
        "first_call",
        "reminder_firm",
        "reminder_friendly",
    ]
    for locale in ("zh-CN", "en"):
        on_disk = {path.stem for path in (TEMPLATE_DIR / locale).glob("[!_]*.toml")}
        assert on_disk == set(known_templates())
    for notice in ("reminder_friendly", "reminder_firm", "final_notice"):
        assert set(loaded_templates().texts["en"][notice]) == {"sms", "email", "letter"}
    assert set(loaded_templates().texts["zh-CN"]["first_call"]) == {"call"}
    assert set(loaded_templates().texts["en"]["callback"]) == {"call"}
    assert set(loaded_templates().texts["zh-CN"]["field_visit"]) == {"field_visit"}


@pytest.mark.parametrize("currency", ["CNY", "USD"])
@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize(("template", "channel"), TEMPLATE_CHANNELS)
def test_every_template_states_what_the_borrower_must_know(
    template: str, channel: str, locale: str, currency: str
) -> None:
    text = render_notice(template, channel, facts(locale, currency, dpd=12))
    lender = loaded_templates().lenders[locale]

    assert AMOUNTS[locale, currency] in text
    assert f"{currency} " not in text  # the amount reads as money, not as a code
    assert DAYS_PAST_DUE[locale].format(dpd=12) in text
    assert "L-1001" in text and NAMES[locale] in text
    for repayment_channel in lender.repayment_channels:
        assert repayment_channel in text
    assert lender.contact in text
    folded = text.casefold()
    for word in THREATS_AND_THIRD_PARTIES:
        assert word not in folded, f"{template}/{channel}/{locale} says {word!r}"
    opt_out = OPT_OUT.get((locale, channel))
    if opt_out is not None:
        assert opt_out in text.splitlines()[-1]
    assert not [words for words in OPT_OUT.values() if words != opt_out and words in text]


def test_sms_and_email_end_with_opt_out_unless_the_policy_says_otherwise() -> None:
    for locale in ("zh-CN", "en"):
        for channel in ("sms", "email"):
            opt_out = OPT_OUT[locale, channel]
            with_it = render_notice("reminder_firm", channel, facts(locale, "CNY"))
            without = render_notice(
                "reminder_firm", channel, facts(locale, "CNY"), opt_out_notice=False
            )
            assert opt_out in with_it.splitlines()[-1]
            assert opt_out not in without
            assert with_it.startswith(without)
        letter = render_notice("final_notice", "letter", facts(locale, "USD"))
        assert not any(words in letter for words in OPT_OUT.values())


def test_a_letter_is_addressed_to_the_borrower_by_name() -> None:
    assert render_notice("final_notice", "letter", facts("en", "USD")).startswith("Dear Ann Lee,")
    zh = render_notice("reminder_firm", "letter", facts("zh-CN", "CNY"))
    assert zh.startswith("尊敬的王小明：")


def test_without_a_name_the_greeting_uses_the_locales_word() -> None:
    assert render_notice("reminder_friendly", "sms", facts("en", "USD", name=None)).startswith(
        "Hello customer,"
    )
    zh = render_notice("reminder_friendly", "sms", facts("zh-CN", "CNY", name=None))
    assert zh.startswith("客户您好")


def test_an_emails_subject_comes_first_and_shows_neither_name_nor_amount() -> None:
    for locale in ("zh-CN", "en"):
        for template in ("reminder_friendly", "reminder_firm", "final_notice"):
            message = render_notice(template, "email", facts(locale, "CNY"))
            subject, blank, first_body_line = message.splitlines()[:3]
            assert "L-1001" in subject and loaded_templates().lenders[locale].name in subject
            assert NAMES[locale] not in subject and "5,000" not in subject
            assert blank == "" and NAMES[locale] in first_body_line


def test_a_name_is_filled_in_as_written_never_read_as_a_placeholder() -> None:
    text = render_notice("reminder_friendly", "sms", facts("en", "USD", name="{amount} {0}"))
    assert text.startswith("Hello {amount} {0},")


def test_a_locale_without_texts_reads_its_languages_or_the_default() -> None:
    assert pick_locale("en-US", ["en", "zh-CN"], "zh-CN") == "en"
    assert pick_locale("fr", ["en", "zh-CN"], "zh-CN") == "zh-CN"
    assert render_notice("reminder_friendly", "sms", facts("en", "USD")) == render_notice(
        "reminder_friendly", "sms", NoticeFacts("L-1001", "Ann Lee", "en-GB", 7, 120_000, "USD")
    )


def test_the_default_ladder_is_friendly_then_firm_then_final_before_legal() -> None:
    ladder = load_policy("default").ladder
    legal_dpd = next(step.dpd for step in ladder if step.channel == "legal")
    notices = [step for step in ladder if step.channel in ("sms", "email", "letter")]
    for step in notices:
        if step.dpd < 7:
            assert step.template == "reminder_friendly", step
        elif step.template != "final_notice":
            assert step.template == "reminder_firm", step
    assert notices[-1].template == "final_notice" and notices[-1].dpd < legal_dpd
    assert {step.template for step in notices} == {
        "reminder_friendly",
        "reminder_firm",
        "final_notice",
    }


# -- amounts ----------------------------------------------------------------------------------


def test_format_amount_writes_the_currency_as_its_readers_do() -> None:
    assert format_amount(500_000, "CNY", "zh-CN") == "¥5,000.00"
    assert format_amount(120_000, "USD", "en") == "$1,200.00"
    assert format_amount(500_000, "CNY", "en") == "CN¥5,000.00"
    assert format_amount(120_000, "USD", "zh-CN") == "US$1,200.00"
    assert format_amount(-150, "USD", "en") == "-$1.50"
    assert format_amount(1_200, "JPY", "en") == "¥1,200"
    assert format_amount(12_345, "CHF", "en") == "CHF 123.45"
    # The summaries and the contract keep the code form.
    assert format_money(500_000, "CNY") == "CNY 5,000.00"


# -- the debt by part -------------------------------------------------------------------------
# Each sums to OUTSTANDING of its currency.
PARTS = {"CNY": Parts(400_000, 50_000, 48_800, 1_200), "USD": Parts(100_000, 15_000, 4_975, 25)}
PARTS_LINES = {
    ("zh-CN", "CNY"): (
        "欠款 ¥5,000.00，其中本金 ¥4,000.00、利息 ¥500.00、费用 ¥488.00、罚息 ¥12.00。"
    ),
    ("en", "USD"): (
        "with $1,200.00 outstanding (of which principal $1,000.00, interest $150.00, "
        "fees $49.75, penalty $0.25)."
    ),
}
# What one more SMS segment holds: 70 UCS-2 characters (Chinese), 160 GSM-7 ones.
SMS_SEGMENT_CHARS = {"zh-CN": 70, "en": 160}


def test_a_notice_states_the_parts_of_the_amount_in_the_borrowers_locale() -> None:
    for (locale, currency), line in PARTS_LINES.items():
        text = render_notice("reminder_firm", "sms", facts(locale, currency, parts=PARTS[currency]))
        assert line in text


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize(("template", "channel"), TEMPLATE_CHANNELS)
def test_every_text_that_states_the_amount_states_its_parts(
    template: str, channel: str, locale: str
) -> None:
    text = render_notice(template, channel, facts(locale, "CNY", parts=PARTS["CNY"]))
    for amount in ("5,000.00", "4,000.00", "500.00", "488.00", "12.00"):
        assert amount in text
    assert text.count("4,000.00") == 1  # once, right after the amount


def test_only_the_parts_owed_are_listed() -> None:
    parts = Parts(principal_minor=0, interest_minor=0, fees_minor=0, penalty_minor=120_000)
    text = render_notice("reminder_friendly", "sms", facts("en", "USD", parts=parts))
    assert "$1,200.00 is due (of which penalty $1,200.00)." in text
    assert "principal" not in text and "interest" not in text
    zh = render_notice(
        "final_notice", "letter", facts("zh-CN", "CNY", parts=Parts(450_000, 50_000))
    )
    assert "欠款 ¥5,000.00，其中本金 ¥4,500.00、利息 ¥500.00。" in zh
    assert "费用" not in zh and "罚息" not in zh


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
@pytest.mark.parametrize(("template", "channel"), TEMPLATE_CHANNELS)
def test_a_debt_of_principal_only_or_of_unknown_parts_reads_as_the_amount_alone(
    template: str, channel: str, locale: str
) -> None:
    """None: a task scheduled before debts had parts; the notice is what it always was."""
    unknown = render_notice(template, channel, facts(locale, "USD"))
    principal_only = facts(locale, "USD", parts=Parts(principal_minor=OUTSTANDING["USD"]))
    assert render_notice(template, channel, principal_only) == unknown
    assert "其中" not in unknown and "of which" not in unknown
    assert "本金" not in unknown and "principal" not in unknown


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_parts_add_at_most_one_segment_to_an_sms(locale: str) -> None:
    """Every part owed, each in the millions: still at most one more segment."""
    big = Parts(1_234_567_800, 123_456_700, 12_345_600, 1_234_500)
    for template in ("reminder_friendly", "reminder_firm", "final_notice"):
        alone, with_parts = (
            render_notice(
                template,
                "sms",
                NoticeFacts("L-1001", NAMES[locale], locale, 7, big.total_minor, "CNY", parts),
            )
            for parts in (None, big)
        )
        assert 0 < len(with_parts) - len(alone) <= SMS_SEGMENT_CHARS[locale]


# -- checks at load ---------------------------------------------------------------------------


def test_a_policy_naming_an_unknown_template_fails_to_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_text = (policies.POLICY_DIR / "default.toml").read_text(encoding="utf-8")
    (tmp_path / "typo.toml").write_text(
        policy_text.replace('name = "default"', 'name = "typo"').replace(
            'template = "reminder_firm"', 'template = "reminder_frim"', 1
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(policies, "POLICY_DIR", tmp_path)
    with pytest.raises(InvalidInput) as caught:
        load_policy("typo")
    assert caught.value.field == "policies/typo.toml: ladder[2].template"
    assert "templates/zh-CN/reminder_frim.toml" in caught.value.problem
    assert "no template 'reminder_frim'" in caught.value.problem


def test_a_policy_using_a_template_on_a_channel_it_has_no_text_for_fails_to_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    policy_text = (policies.POLICY_DIR / "default.toml").read_text(encoding="utf-8")
    (tmp_path / "mixed.toml").write_text(
        policy_text.replace('name = "default"', 'name = "mixed"').replace(
            'template = "first_call"', 'template = "reminder_firm"', 1
        ),
        encoding="utf-8",
    )
    monkeypatch.setattr(policies, "POLICY_DIR", tmp_path)
    with pytest.raises(InvalidInput) as caught:
        load_policy("mixed")
    assert caught.value.field == "policies/mixed.toml: ladder[4].template"
    assert "templates/zh-CN/reminder_firm.toml: call" in caught.value.problem


def test_check_templates_names_the_missing_file() -> None:
    check_templates([("reminder_friendly", "sms"), ("first_call", "call")])
    # The legal hand-off renders no text, so it needs no template file.
    check_templates([("legal_referral", "legal")])
    with pytest.raises(InvalidInput) as caught:
        check_templates([("goodbye", "sms")])
    assert caught.value.field == "templates/zh-CN/goodbye.toml"
    with pytest.raises(InvalidInput) as caught:
        check_templates([("reminder_friendly", "sms")], ["zh-CN", "fr"])
    assert caught.value.field == "templates/fr"
    with pytest.raises(InvalidInput) as caught:
        render_notice("goodbye", "sms", facts("en", "USD"))
    assert caught.value.field == "templates/en/goodbye.toml"


def test_the_shipped_copy_loads(template_copy: Path) -> None:
    assert load(template_copy).names() == known_templates()


@pytest.mark.parametrize(
    ("file", "old", "new", "field", "problem"),
    [
        (
            "en/reminder_firm.toml",
            "Hello {name}, your loan",
            "Hello {name}, call {borrower_phone} about your loan",
            "tpl/en/reminder_firm.toml: sms.text",
            "unknown placeholder {borrower_phone}",
        ),
        (
            "zh-CN/first_call.toml",
            "欠款 {amount}",
            "欠款 {amount:>12}",
            "tpl/zh-CN/first_call.toml: call.text",
            "must be a plain name",
        ),
        (
            "en/final_notice.toml",
            "This is a final notice.",
            "This is a final notice {",
            "tpl/en/final_notice.toml: email.text",
            "malformed placeholder",
        ),
        (
            "en/reminder_friendly.toml",
            'subject = "{lender_name}: payment reminder for loan {loan_id}"',
            "",
            "tpl/en/reminder_friendly.toml: email.subject",
            "must be a non-empty string",
        ),
        (
            "en/reminder_friendly.toml",
            'subject = "{lender_name}: payment reminder for loan {loan_id}"',
            'subject = "{amount} due, {name}"',
            "tpl/en/reminder_friendly.toml: email.subject",
            "unknown placeholder {amount}",
        ),
        (
            "zh-CN/reminder_firm.toml",
            "还款方式：{channels}。如还款有困难",
            "如还款有困难",
            "tpl/zh-CN/reminder_firm.toml: sms.text",
            "must state {channels}",
        ),
        (
            "en/field_visit.toml",
            "contact {lender_contact}.",
            "contact us.",
            "tpl/en/field_visit.toml: field_visit.text",
            "must state {lender_contact}",
        ),
        (
            "en/reminder_firm.toml",
            "please pay soon.",
            "please pay soon or we will call your employer.",
            "tpl/en/reminder_firm.toml: sms.text",
            "says 'employer'",
        ),
        (
            "zh-CN/final_notice.toml",
            "并可能依法提起诉讼。还款方式",
            "并可能通知公安机关。还款方式",
            "tpl/zh-CN/final_notice.toml: sms.text",
            "says '公安'",
        ),
        (
            "en/first_call.toml",
            "[call]",
            "[phone_call]",
            "tpl/en/first_call.toml: phone_call",
            "not a channel with a text",
        ),
        (
            "en/reminder_firm.toml",
            "[letter]\ntext",
            "[letter]\nfooter = 'x'\ntext",
            "tpl/en/reminder_firm.toml: letter.footer",
            "unknown key",
        ),
        (
            "zh-CN/_locale.toml",
            'email = "如不希望再收到此类邮件，请回复“退订”。"',
            "",
            "tpl/zh-CN/_locale.toml: opt_out.email",
            "must be a non-empty string",
        ),
        (
            "en/reminder_friendly.toml",
            "{amount} is due{parts}. Paying",
            "{amount} is due. Paying",
            "tpl/en/reminder_friendly.toml: sms.text",
            "must state {parts}",
        ),
        (
            "zh-CN/_locale.toml",
            'text = "，其中{parts}"',
            'text = "，其中{amount}"',
            "tpl/zh-CN/_locale.toml: parts.text",
            "unknown placeholder {amount}",
        ),
        (
            "en/_locale.toml",
            'text = " (of which {parts})"',
            'text = " (of which)"',
            "tpl/en/_locale.toml: parts.text",
            "must state {parts}",
        ),
        (
            "en/_locale.toml",
            'penalty = "penalty"',
            "",
            "tpl/en/_locale.toml: parts.penalty",
            "must be a non-empty string",
        ),
        (
            "en/_locale.toml",
            'separator = ", "',
            'separator = ""',
            "tpl/en/_locale.toml: parts.separator",
            "must be a non-empty string",
        ),
        (
            "zh-CN/_locale.toml",
            'fees = "费用"',
            'fees = "费用（家人代还）"',
            "tpl/zh-CN/_locale.toml: parts.fees",
            "says '家人'",
        ),
        (
            "en/_locale.toml",
            "[parts]",
            "[parts_of_the_debt]",
            "tpl/en/_locale.toml: parts_of_the_debt",
            "unknown key",
        ),
    ],
)
def test_a_broken_template_file_fails_to_load_naming_it(
    template_copy: Path, file: str, old: str, new: str, field: str, problem: str
) -> None:
    edit(template_copy / file, old, new)
    with pytest.raises(InvalidInput) as caught:
        load(template_copy)
    assert caught.value.field == field
    assert problem in caught.value.problem


def test_a_template_missing_in_one_locale_fails_to_load_naming_the_file(
    template_copy: Path,
) -> None:
    (template_copy / "zh-CN" / "final_notice.toml").unlink()
    with pytest.raises(InvalidInput) as caught:
        load(template_copy)
    assert caught.value.field == "tpl/zh-CN/final_notice.toml"
    assert "missing" in caught.value.problem


def test_a_channel_missing_in_one_locale_fails_to_load_naming_the_file(
    template_copy: Path,
) -> None:
    path = template_copy / "en" / "reminder_friendly.toml"
    path.write_text(path.read_text(encoding="utf-8").split("[letter]")[0], encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load(template_copy)
    assert caught.value.field == "tpl/en/reminder_friendly.toml: letter"


def test_a_locale_without_its_shared_words_fails_to_load(template_copy: Path) -> None:
    (template_copy / "en" / "_locale.toml").unlink()
    with pytest.raises(InvalidInput) as caught:
        load(template_copy)
    assert caught.value.field == "tpl/en/_locale.toml"
    assert caught.value.problem == "missing file"


def test_the_lender_profile_needs_every_locale_and_a_repayment_channel(
    template_copy: Path,
) -> None:
    lender = template_copy / "lender.toml"
    original = lender.read_text(encoding="utf-8")
    lender.write_text(original.split("[en]")[0], encoding="utf-8")
    with pytest.raises(InvalidInput) as caught:
        load(template_copy)
    assert caught.value.field == "tpl/lender.toml: en"
    lender.write_text(
        original.replace("repayment_channels = [", "repayment_channels = []\nold = [", 1),
        encoding="utf-8",
    )
    with pytest.raises(InvalidInput) as caught:
        load(template_copy)
    assert caught.value.field == "tpl/lender.toml: zh-CN.old"
    lender.write_text(
        original.replace('"到任一合作网点柜台还款"', '"到您家人的单位还款"'), encoding="utf-8"
    )
    with pytest.raises(InvalidInput) as caught:
        load(template_copy)
    assert caught.value.field == "tpl/lender.toml: zh-CN.repayment_channels.2"


def test_the_lender_profile_comes_from_the_configured_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fresh_templates: None
) -> None:
    profile = tmp_path / "our-lender.toml"
    profile.write_text(
        "[zh-CN]\n"
        'name = "好借金融"\n'
        'contact = "热线 400-123-4567"\n'
        'repayment_channels = ["支付宝", "微信支付"]\n'
        "[en]\n"
        'name = "Good Lending"\n'
        'contact = "help@good.example"\n'
        'repayment_channels = ["online banking", "PayPal"]\n',
        encoding="utf-8",
    )
    monkeypatch.setenv(templates.LENDER_PROFILE_ENV, str(profile))
    text = render_notice("reminder_firm", "sms", facts("en", "USD"))
    assert "Good Lending" in text and "help@good.example" in text
    assert "online banking; PayPal" in text and "bank transfer" not in text
    zh = render_notice("reminder_firm", "sms", facts("zh-CN", "CNY"))
    assert "还款方式：支付宝；微信支付。" in zh

    monkeypatch.setenv(templates.LENDER_PROFILE_ENV, str(tmp_path / "absent.toml"))
    loaded_templates.cache_clear()
    with pytest.raises(InvalidInput) as caught:
        render_notice("reminder_firm", "sms", facts("en", "USD"))
    assert caught.value.field == str(tmp_path / "absent.toml")
