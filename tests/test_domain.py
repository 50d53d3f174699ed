from datetime import UTC, datetime, timedelta, timezone

import pytest

from watui.domain import (
    JID,
    Chat,
    ChatFilter,
    InvalidJID,
    InvalidPhoneNumber,
    InvalidSessionId,
    Message,
    MessageFilter,
    MessageStatus,
    NoSessionsAvailable,
    SessionNotFound,
    display_for_jid,
    from_millis,
    new_message_id,
    normalize_phone,
    parse_jid,
    to_chat_jid,
    to_millis,
    validate_session_id,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("15551234567@s.whatsapp.net", JID("15551234567")),
        ("15551234567:12@s.whatsapp.net", JID("15551234567", device=12)),
        ("15551234567.1:3@s.whatsapp.net", JID("15551234567", device=3, agent=1)),
        ("120363012345678901@g.us", JID("120363012345678901", "g.us")),
        ("98765432101234@lid", JID("98765432101234", "lid")),
        ("status@broadcast", JID("status", "broadcast")),
    ],
)
def test_parse_jid_forms(text, expected):
    parsed = parse_jid(text)
    assert parsed == expected
    assert str(parsed) == text


def test_jid_helpers():
    device = parse_jid("15551234567:12@s.whatsapp.net")
    assert str(device.to_non_ad()) == "15551234567@s.whatsapp.net"
    assert parse_jid("1203630@g.us").is_group
    assert parse_jid("1@lid").is_lid
    assert display_for_jid("15551234567@s.whatsapp.net") == "+15551234567"
    assert display_for_jid("not a jid") == "not a jid"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("15551234567", "expected user@server"),
        ("a b@s.whatsapp.net", "expected user@server"),
        ("155@example.com", "unknown server 'example.com'"),
        ("155:x@s.whatsapp.net", "expected user@server"),
    ],
)
def test_parse_jid_refuses(text, message):
    with pytest.raises(InvalidJID, match=message):
        parse_jid(text)


@pytest.mark.parametrize(
    ("text", "digits"),
    [
        ("+1 (555) 123-4567", "15551234567"),
        ("15551234567", "15551234567"),
        ("+44 20 7946 0958", "442079460958"),
        ("  +49-30-1234567 ", "49301234567"),
    ],
)
def test_normalize_phone(text, digits):
    assert normalize_phone(text) == digits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("+1 555 CALL NOW", "use digits with country code"),
        ("1+5551234567", "use digits with country code"),
        ("0151 2345678", "start with the country code"),
        ("12345", "5 digits"),
        ("1234567890123456", "16 digits"),
        ("+1.555.123.4567", "use digits with country code"),
    ],
)
def test_normalize_phone_refuses(text, message):
    with pytest.raises(InvalidPhoneNumber, match=message):
        normalize_phone(text)


def test_to_chat_jid_accepts_phone_or_jid():
    assert str(to_chat_jid("+1 555 123 4567")) == "15551234567@s.whatsapp.net"
    assert str(to_chat_jid("1203630@g.us")) == "1203630@g.us"


@pytest.mark.parametrize("good", ["default", "work", "a", "0-x_y", "x" * 32])
def test_session_ids_accepted(good):
    assert validate_session_id(good) == good


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("", "empty"),
        ("../x", "invalid session id '../x'"),
        ("Work", "invalid session id 'Work'"),
        ("-x", "starting with a letter or digit"),
        ("x" * 33, "1-32 characters"),
        ("a/b", "invalid session id"),
        (None, "empty"),
    ],
)
def test_session_ids_refused(bad, message):
    with pytest.raises(InvalidSessionId, match=message):
        validate_session_id(bad)


def test_seed_error_messages():
    assert str(SessionNotFound("work")) == "session not found: work"
    assert str(NoSessionsAvailable()) == (
        "no sessions available: please initialize at least one session through SessionManager"
    )


def test_filters_have_defaults_and_models_take_seed_fields():
    assert ChatFilter().limit > 0 and ChatFilter().session_id == ""
    assert MessageFilter().before is None
    now = datetime.now(UTC)
    chat = Chat(jid="1@s.whatsapp.net", name="A", last_message_time=now)
    message = Message(id="X", chat_jid=chat.jid, sender=chat.jid, timestamp=now)
    assert message.status is MessageStatus.RECEIVED and message.file_length == 0
    assert chat.unread_count == 0 and not chat.muted


def test_times_round_trip_and_refuse_naive():
    when = datetime(2024, 11, 24, 20, 0, 0, 123000, tzinfo=timezone(timedelta(hours=2)))
    assert from_millis(to_millis(when)) == when
    assert from_millis(to_millis(when)).tzinfo == UTC
    with pytest.raises(ValueError, match="naive"):
        to_millis(datetime(2024, 1, 1))


def test_message_ids_are_whatsmeow_shaped_and_unique():
    ids = {new_message_id() for _ in range(1000)}
    assert len(ids) == 1000
    assert all(i.startswith("3EB0") and len(i) == 22 and i == i.upper() for i in ids)


def test_status_ordering_is_monotonic_for_outgoing():
    assert MessageStatus.PENDING < MessageStatus.SENT < MessageStatus.DELIVERED < MessageStatus.READ
    assert MessageStatus.FAILED < MessageStatus.PENDING


def test_preview():
    now = datetime.now(UTC)
    m = Message(id="1", chat_jid="c", sender="s", timestamp=now, content="hi\n there", media_type="image")
    assert m.preview == "[image] hi there"
    m.deleted = True
    assert m.preview == "This message was deleted"
