# pragma version 0.4.3
# @title RevertingWallet (test fixture, iDAO Portal)
# @notice Reverts on both the ERC-1271 and the legacy `isValidSignature` selectors.
# @license CC0-1.0


@external
@view
def isValidSignature(_hash: bytes32, _signature: Bytes[1024]) -> bytes4:
    raise "always reverts"
