# pragma version 0.4.3
# @title LegacyWallet (test fixture, iDAO Portal)
# @notice Safe-style wallet answering only the legacy selector `isValidSignature(bytes,bytes)`
#         (0x20c13b0b), as Safes up to 1.4.1 without the 1271 bytes32 entry point do. The owner
#         signs keccak256(_data) with a 65-byte r||s||v signature. (Safe's real handler hashes
#         `_data` into a SafeMessage EIP-712 struct first; the selector and arguments are the same.)
# @license CC0-1.0

owner: public(address)


@deploy
def __init__(_owner: address):
    self.owner = _owner


@external
@view
def isValidSignature(_data: Bytes[4096], _signature: Bytes[1024]) -> bytes4:
    if len(_signature) != 65:
        return 0x00000000
    r: uint256 = convert(slice(_signature, 0, 32), uint256)
    s: uint256 = convert(slice(_signature, 32, 32), uint256)
    v: uint256 = convert(slice(_signature, 64, 1), uint256)
    signer: address = ecrecover(keccak256(_data), v, r, s)
    if signer != empty(address) and signer == self.owner:
        return 0x20c13b0b
    return 0x00000000
