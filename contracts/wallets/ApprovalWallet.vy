# pragma version 0.4.3
# @title ApprovalWallet (test fixture, iDAO Portal)
# @notice A Safe-style wallet whose owner approves a hash on chain instead of signing it, as a
#         Safe with threshold > 1 does (`signedMessages(hash)`, set by `signMessage` through a
#         multisig transaction). `isValidSignature(hash, 0x)` (an empty signature) returns
#         0x1626ba7e once `approve(hash)` was sent by the owner; a 65-byte r||s||v signature of
#         the owner is accepted too, as in OwnedWallet.
# @license CC0-1.0

owner: public(address)
signedMessages: public(HashMap[bytes32, bool])


@deploy
def __init__(_owner: address):
    self.owner = _owner


@external
def approve(_hash: bytes32):
    assert msg.sender == self.owner, "not the owner"
    self.signedMessages[_hash] = True


@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[1024]) -> bytes4:
    if len(_signature) == 0:
        if self.signedMessages[_hash]:
            return 0x1626ba7e
        return 0x00000000
    if len(_signature) != 65:
        return 0x00000000
    r: uint256 = convert(slice(_signature, 0, 32), uint256)
    s: uint256 = convert(slice(_signature, 32, 32), uint256)
    v: uint256 = convert(slice(_signature, 64, 1), uint256)
    signer: address = ecrecover(_hash, v, r, s)
    if signer != empty(address) and signer == self.owner:
        return 0x1626ba7e
    return 0x00000000
