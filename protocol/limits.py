"""Named limits on what a peer may send, each with its unit and default."""

from __future__ import annotations

from dataclasses import dataclass, fields

SUBPROTOCOL = "corpchat.v1"
PROTOCOL_VERSION = 1


@dataclass(frozen=True, slots=True)
class Limits:
    max_frame_bytes: int = 64 * 1024
    max_depth: int = 8
    max_str_bytes: int = 32 * 1024
    max_bin_bytes: int = 32 * 1024
    max_array_len: int = 1024
    max_map_len: int = 64
    max_text_chars: int = 4000
    max_client_msg_id_chars: int = 64
    max_page: int = 500
    default_page: int = 100

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) <= 0:
                raise ValueError(f"limit {f.name} must be positive")

    def to_wire(self) -> dict[str, int]:
        """The limits a client needs to know, as sent in `welcome`."""
        return {
            "max_frame_bytes": self.max_frame_bytes,
            "max_text_chars": self.max_text_chars,
            "max_client_msg_id_chars": self.max_client_msg_id_chars,
            "max_page": self.max_page,
        }


DEFAULT_LIMITS = Limits()
