"""Encryption at rest for stored TLS secrets (Fernet: AES-128-CBC + HMAC-SHA256).

One key per deployment, in a file every API and controller process can read;
created on first use with mode 0600. Losing the key makes stored secrets
unreadable, so operators back it up with the database.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, key_file: Path) -> None:
        self.key_file = Path(key_file)
        self._fernet: Fernet | None = None

    def _box(self) -> Fernet:
        if self._fernet is None:
            self._fernet = Fernet(self._load_or_create())
        return self._fernet

    def _load_or_create(self) -> bytes:
        self.key_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # Several processes may start at once: the first one under the lock writes the key.
        with open(self.key_file.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not self.key_file.exists():
                fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as f:
                    f.write(Fernet.generate_key())
            return self.key_file.read_bytes().strip()

    def seal(self, payload: bytes) -> str:
        return self._box().encrypt(payload).decode("ascii")

    def open(self, token: str) -> bytes:
        try:
            return self._box().decrypt(token.encode("ascii"))
        except InvalidToken:
            raise ValueError(f"a stored secret cannot be decrypted with {self.key_file}") from None
