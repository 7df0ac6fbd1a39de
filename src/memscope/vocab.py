"""Character vocabulary: the sorted set of characters of a task's training text (as nanoGPT's char data)."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .errors import MemscopeError

BOS = "\n"
"""The context token before every line of a memscope task: never scored itself, it conditions a line's
first character (the first-token convention of Morris et al. 2025 and of every measure here)."""


@dataclass(frozen=True)
class Vocab:
    chars: str
    """Every token's character, in id order."""

    @classmethod
    def from_text(cls, text: str) -> "Vocab":
        return cls("".join(sorted(set(text))))

    def __len__(self) -> int:
        return len(self.chars)

    @cached_property
    def stoi(self) -> dict[str, int]:
        return {ch: i for i, ch in enumerate(self.chars)}

    def encode(self, text: str) -> list[int]:
        stoi = self.stoi
        unknown = sorted({ch for ch in text if ch not in stoi})
        if unknown:
            shown = ", ".join(repr(ch) for ch in unknown)
            raise MemscopeError(
                f"characters outside the vocabulary: {shown} (vocabulary: {self.chars!r})")
        return [stoi[ch] for ch in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in ids)
