# pragma version 0.4.3
# @title GarbageWallet (test fixture, iDAO Portal)
# @notice Answers `isValidSignature(bytes32,bytes)` with 32 bytes of 0xff: well-formed ABI, but not
#         the ERC-1271 magic value. A verifier must read it as "invalid", never as success.
# @license CC0-1.0


@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[1024]) -> bytes32:
    return 0xffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff
