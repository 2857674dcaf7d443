# pragma version 0.4.3
# @title WalletFactory (test fixture, iDAO Portal)
# @notice Deploys OwnedWallet instances with CREATE2 from an ERC-5202 blueprint, so a wallet's
#         address is known before it exists (counterfactual wallets, ERC-6492).
# @license CC0-1.0

BLUEPRINT: public(immutable(address))


@deploy
def __init__(_blueprint: address):
    BLUEPRINT = _blueprint


@external
def deploy(_owner: address, _salt: bytes32) -> address:
    return create_from_blueprint(BLUEPRINT, _owner, salt=_salt)
