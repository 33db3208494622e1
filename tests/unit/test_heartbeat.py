from __future__ import annotations

import hashlib
import hmac
import json
import zlib

import pytest

from portus.common.heartbeat import MAC_LEN, InvalidHeartbeat, ReplayGuard, decode, encode

KEY = b"s3cret"
NOW = 1_800_000_000.0


def beat(**over: object) -> dict[str, object]:
    payload: dict[str, object] = {"id": "amp-1", "seq": 1, "ver": 3, "t": NOW, "listeners": {}}
    payload.update(over)
    return payload


def sign(body: bytes, key: bytes = KEY) -> bytes:
    """Build a datagram by hand, to feed decode() correctly signed garbage."""
    return body + hmac.new(key, body, hashlib.sha256).hexdigest().encode()


def test_roundtrip() -> None:
    payload = beat(pools={"p:l": {"status": "UP", "members": {"m": "UP 1/3"}}})
    assert decode(encode(payload, KEY), KEY) == payload


def test_wire_format_is_zlib_then_lowercase_hex_hmac() -> None:
    data = encode(beat(), KEY)
    body, mac = data[:-MAC_LEN], data[-MAC_LEN:]
    assert mac == hmac.new(KEY, body, hashlib.sha256).hexdigest().encode()
    assert mac.decode() == mac.decode().lower()
    assert json.loads(zlib.decompress(body)) == beat()


def test_wrong_key_rejected() -> None:
    with pytest.raises(InvalidHeartbeat, match="HMAC"):
        decode(encode(beat(), KEY), b"other")


@pytest.mark.parametrize("index", [0, 5, -1, -MAC_LEN])
def test_tampered_byte_rejected(index: int) -> None:
    data = bytearray(encode(beat(), KEY))
    data[index] ^= 0x01
    with pytest.raises(InvalidHeartbeat):
        decode(bytes(data), KEY)


def test_too_short_rejected() -> None:
    with pytest.raises(InvalidHeartbeat, match="short"):
        decode(b"x" * MAC_LEN, KEY)


def test_decompression_bomb_rejected() -> None:
    bomb = zlib.compress(b'{"id":"' + b"a" * (2 << 20) + b'"}', 9)
    assert len(bomb) < 10_000
    with pytest.raises(InvalidHeartbeat, match="too large"):
        decode(sign(bomb), KEY)


def test_truncated_stream_rejected() -> None:
    body = zlib.compress(json.dumps(beat()).encode(), 9)[:-4]
    with pytest.raises(InvalidHeartbeat):
        decode(sign(body), KEY)


def test_not_zlib_rejected() -> None:
    with pytest.raises(InvalidHeartbeat, match="compression"):
        decode(sign(b"plain text"), KEY)


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]", b"\xff\xfe"])
def test_bad_json_rejected(raw: bytes) -> None:
    with pytest.raises(InvalidHeartbeat):
        decode(sign(zlib.compress(raw)), KEY)


@pytest.mark.parametrize(
    "over",
    [
        {"id": 5}, {"id": ""}, {"seq": "1"}, {"seq": True}, {"seq": 1.5},
        {"ver": None}, {"t": "now"}, {"t": False},
    ],
)
def test_invalid_fields_rejected(over: dict[str, object]) -> None:
    with pytest.raises(InvalidHeartbeat):
        decode(encode(beat(**over), KEY), KEY)


@pytest.mark.parametrize("field", ["id", "seq", "ver", "t"])
def test_missing_field_rejected(field: str) -> None:
    payload = beat()
    del payload[field]
    with pytest.raises(InvalidHeartbeat, match=field):
        decode(encode(payload, KEY), KEY)


def test_integral_t_becomes_float() -> None:
    out = decode(encode(beat(t=1_800_000_000), KEY), KEY)
    assert isinstance(out["t"], float)


def test_empty_key_refused() -> None:
    with pytest.raises(ValueError):
        encode(beat(), b"")
    with pytest.raises(ValueError):
        decode(encode(beat(), KEY), b"")


def test_invalid_heartbeat_has_reason() -> None:
    err = InvalidHeartbeat("bad HMAC")
    assert err.reason == "bad HMAC" and isinstance(err, ValueError)


# -- ReplayGuard -------------------------------------------------------------

def test_guard_accepts_increasing_sequence() -> None:
    g = ReplayGuard(window=30)
    for seq in range(1, 5):
        g.check("a", seq, NOW + seq, NOW + seq)


def test_guard_rejects_replay() -> None:
    g = ReplayGuard(window=30)
    g.check("a", 1, NOW, NOW)
    g.check("a", 2, NOW + 1, NOW + 1)
    with pytest.raises(InvalidHeartbeat):
        g.check("a", 2, NOW + 1, NOW + 2)
    with pytest.raises(InvalidHeartbeat):
        g.check("a", 1, NOW, NOW + 2)


@pytest.mark.parametrize("t", [NOW - 31, NOW + 31])
def test_guard_rejects_outside_window(t: float) -> None:
    with pytest.raises(InvalidHeartbeat, match="outside"):
        ReplayGuard(window=30).check("a", 1, t, NOW)


def test_guard_accepts_agent_restart_with_reset_seq() -> None:
    g = ReplayGuard(window=30)
    g.check("a", 100, NOW, NOW)
    g.check("a", 1, NOW + 1, NOW + 1)  # seq went back, time went forward
    g.check("a", 2, NOW + 2, NOW + 2)


def test_guard_rejects_datagram_from_before_restart() -> None:
    g = ReplayGuard(window=30)
    g.check("a", 100, NOW, NOW)
    g.check("a", 1, NOW + 5, NOW + 5)  # restart
    # An old beat (seq higher than the new run's, time older) is stale.
    with pytest.raises(InvalidHeartbeat):
        g.check("a", 99, NOW - 1, NOW + 6)


def test_guard_tolerates_small_clock_step_back_within_a_run() -> None:
    g = ReplayGuard(window=30)
    g.check("a", 1, NOW, NOW)
    g.check("a", 2, NOW + 5, NOW + 5)
    g.check("a", 3, NOW + 4, NOW + 6)  # NTP stepped the amphora back 1 s


def test_guard_is_per_amphora_and_forgets() -> None:
    g = ReplayGuard(window=30)
    g.check("a", 5, NOW, NOW)
    g.check("b", 1, NOW, NOW)
    with pytest.raises(InvalidHeartbeat):
        g.check("a", 5, NOW, NOW)
    g.forget("a")
    g.check("a", 5, NOW, NOW)
