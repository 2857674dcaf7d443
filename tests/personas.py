"""Test personas with real keys: alice the founder, bob a member, carol a validator, mallory the attacker."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account import Account
from eth_account.messages import encode_defunct, encode_typed_data
from eth_account.signers.local import LocalAccount


@dataclass(frozen=True)
class Persona:
    name: str
    account: LocalAccount

    @property
    def address(self) -> str:
        return self.account.address

    def sign_text(self, text: str) -> str:
        return "0x" + self.account.sign_message(encode_defunct(text=text)).signature.hex().removeprefix("0x")

    def sign_typed(self, full_message: dict) -> str:
        signed = self.account.sign_message(encode_typed_data(full_message=full_message))
        return "0x" + signed.signature.hex().removeprefix("0x")


def persona(name: str, seed: int) -> Persona:
    return Persona(name, Account.from_key(bytes([seed]) * 32))


ALICE = persona("alice", 0x11)  # the reference vectors' key
BOB = persona("bob", 0x22)
CAROL = persona("carol", 0x33)
DAVE = persona("dave", 0x44)
MALLORY = persona("mallory", 0x66)


def many(n: int, start: int = 1000) -> list[Persona]:
    """n distinct personas with deterministic keys."""
    return [Persona(f"p{i}", Account.from_key((start + i).to_bytes(32, "big"))) for i in range(n)]
