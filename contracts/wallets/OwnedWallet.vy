# pragma version 0.4.3
# @title OwnedWallet (test fixture, iDAO Portal)
# @notice An ERC-1271 wallet controlled by one EOA. `isValidSignature(bytes32,bytes)` returns
#         0x1626ba7e when the 65-byte r||s||v signature over the hash recovers to the owner.
#         The owner can hand the wallet to another key (`set_owner`), as real wallets rotate owners.
#         Also deployed through `WalletFactory` (CREATE2 from this contract's blueprint) for ERC-6492.
# @license CC0-1.0

owner: public(address)


@deploy
def __init__(_owner: address):
    self.owner = _owner


@external
def set_owner(_owner: address):
    assert msg.sender == self.owner, "not the owner"
    self.owner = _owner


@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[1024]) -> bytes4:
    if len(_signature) != 65:
        return 0x00000000
    r: uint256 = convert(slice(_signature, 0, 32), uint256)
    s: uint256 = convert(slice(_signature, 32, 32), uint256)
    v: uint256 = convert(slice(_signature, 64, 1), uint256)
    signer: address = ecrecover(_hash, v, r, s)
    if signer != empty(address) and signer == self.owner:
        return 0x1626ba7e
    return 0x00000000
