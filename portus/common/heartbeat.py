"""Heartbeat envelope: zlib-compressed JSON followed by a hex HMAC-SHA256.

Wire format (one UDP datagram)::

    zlib.compress(json_utf8, 9) || hex(HMAC-SHA256(key, compressed))   # 64 chars

The MAC covers the compressed bytes, so a forged datagram is rejected before
it is ever decompressed. STDLIB ONLY: the amphora agent imports this module
and its memory footprint matters.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import zlib

# `typing` costs ~0.5 MB RSS in every amphora agent; mypy honours this idiom.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MAC_LEN = 64  # hex characters of a SHA-256 digest
MAX_PAYLOAD = 1 << 20  # decompressed bytes; anything larger is treated as a bomb


class InvalidHeartbeat(ValueError):
    """A datagram that must be dropped; `reason` says why (safe to log)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _mac(key: bytes, data: bytes) -> bytes:
    if not key:
        # An empty key makes the MAC forgeable by anyone: refuse, loudly.
        raise ValueError("heartbeat key must not be empty")
    return hmac.new(key, data, hashlib.sha256).hexdigest().encode("ascii")


def encode(payload: dict[str, Any], key: bytes) -> bytes:
    body = zlib.compress(json.dumps(payload, separators=(",", ":")).encode("utf-8"), 9)
    return body + _mac(key, body)


def decode(datagram: bytes, key: bytes) -> dict[str, Any]:
    if len(datagram) <= MAC_LEN:
        raise InvalidHeartbeat("datagram too short")
    body, mac = datagram[:-MAC_LEN], datagram[-MAC_LEN:]
    if not hmac.compare_digest(_mac(key, body), mac):
        raise InvalidHeartbeat("bad HMAC")
    d = zlib.decompressobj()
    try:
        raw = d.decompress(body, MAX_PAYLOAD + 1)
    except zlib.error as exc:
        raise InvalidHeartbeat(f"bad compression: {exc}") from None
    if len(raw) > MAX_PAYLOAD or d.unconsumed_tail:
        raise InvalidHeartbeat("payload too large")
    if not d.eof:
        raise InvalidHeartbeat("truncated compressed payload")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidHeartbeat(f"bad JSON: {exc}") from None
    _check_fields(payload)
    return payload  # type: ignore[no-any-return]


def _check_fields(payload: Any) -> None:
    if not isinstance(payload, dict):
        raise InvalidHeartbeat("payload is not an object")
    if not isinstance(payload.get("id"), str) or not payload["id"]:
        raise InvalidHeartbeat("missing or invalid 'id'")
    for name in ("seq", "ver"):
        # bool is an int subclass; true/false is never a valid counter.
        if not isinstance(payload.get(name), int) or isinstance(payload[name], bool):
            raise InvalidHeartbeat(f"missing or invalid '{name}'")
    t = payload.get("t")
    if not isinstance(t, (int, float)) or isinstance(t, bool) or t != t:  # t != t: NaN
        raise InvalidHeartbeat("missing or invalid 't'")
    payload["t"] = float(t)  # other encoders may send a whole second as an int


class ReplayGuard:
    """Rejects stale, future and replayed heartbeats, per amphora, in memory.

    Rule, for a heartbeat (seq, t) from an amphora:

    1. `t` must be within `now ± window` (bounds how long a captured datagram
       stays useful, and therefore the state the rule below needs).
    2. The first heartbeat seen from an amphora is accepted; it starts a "run".
    3. Within a run, accept if `seq > last_seq` and `t >= run_start` (small
       clock steps backwards on the amphora are tolerated).
    4. Otherwise accept only if `t > last_t`: the agent restarted and its
       `seq` began again at 1; this starts a new run at `t`.

    A replay repeats a (seq, t) already seen, so it fails both 3 and 4.
    Datagrams from before a restart fail 3 (older than the new run) and 4.
    Reordered datagrams are dropped, which is harmless: a newer one arrived.
    """

    def __init__(self, window: float) -> None:
        self.window = window
        # amp_id -> (last_seq, last_t, run_start)
        self._state: dict[str, tuple[int, float, float]] = {}
        self._lock = threading.Lock()  # health managers may check from threads

    def check(self, amp_id: str, seq: int, t: float, now: float) -> None:
        if not (now - self.window <= t <= now + self.window):
            raise InvalidHeartbeat(f"timestamp {t:.3f} outside ±{self.window}s of now")
        with self._lock:
            prev = self._state.get(amp_id)
            if prev is None:
                self._state[amp_id] = (seq, t, t)
                return
            last_seq, last_t, run_start = prev
            if seq > last_seq and t >= run_start:
                self._state[amp_id] = (seq, max(last_t, t), run_start)
            elif t > last_t:
                self._state[amp_id] = (seq, t, t)
            else:
                raise InvalidHeartbeat(f"replayed or stale heartbeat (seq {seq} <= {last_seq})")

    def forget(self, amp_id: str) -> None:
        """Drop an amphora's state (it was deleted); keeps memory bounded."""
        with self._lock:
            self._state.pop(amp_id, None)
