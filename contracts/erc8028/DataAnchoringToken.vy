# pragma version 0.4.3
# @title DataAnchoringToken (iDAO Portal mirror of its DATs, ERC-8028 draft core)
# @notice ERC-8028 (draft, 2025-09-12) core as far as the draft fixes it: asset classes with
#         metadataURI / integrityHash / policyURI; tokens with an owner, a class, a value (usage
#         quota), a shareRatio (revenue weight) and an expireAt; transferToken, recordUsage and
#         their events. The portal is the source of truth: only the operator (the portal's
#         publisher) writes, using the portal's own class and token ids. Per-token integrity hash,
#         policy URI and revocation are portal extensions (a DAT's content and policy are its own).
#         Revenue settlement and claim are not mirrored (the portal settles in its ledger).
# @license CC0-1.0

struct AssetClass:
    name: String[100]
    metadataURI: String[256]
    integrityHash: bytes32
    policyURI: String[256]

event ClassCreated:
    classId: indexed(uint256)
    name: String[100]
    metadataURI: String[256]
    integrityHash: bytes32
    policyURI: String[256]

event Minted:
    to: indexed(address)
    tokenId: indexed(uint256)
    classId: indexed(uint256)
    value: uint256
    shareRatio: uint256
    expireAt: uint256

event TransferToken:
    tokenFrom: indexed(address)
    tokenTo: indexed(address)
    tokenId: indexed(uint256)

event PolicyUpdated:
    tokenId: indexed(uint256)
    policyURI: String[256]
    value: uint256
    expireAt: uint256

event Revoked:
    tokenId: indexed(uint256)

event UsageRecorded:
    tokenId: indexed(uint256)
    amount: uint256
    used: uint256

operator: public(address)
classes: public(HashMap[uint256, AssetClass])
_owner: HashMap[uint256, address]
_class: HashMap[uint256, uint256]
_value: HashMap[uint256, uint256]
_share: HashMap[uint256, uint256]
_expire: HashMap[uint256, uint256]
_used: HashMap[uint256, uint256]
_integrity: HashMap[uint256, bytes32]
_policy: HashMap[uint256, String[256]]
_revoked: HashMap[uint256, bool]
balanceOf: public(HashMap[address, uint256])
totalSupply: public(uint256)


@deploy
def __init__(_operator: address):
    self.operator = _operator


@internal
def _only_operator():
    assert msg.sender == self.operator, "not the operator"


@internal
@view
def _exists(tokenId: uint256) -> bool:
    return self._owner[tokenId] != empty(address)


@external
def createClass(classId: uint256, name: String[100], metadataURI: String[256], integrityHash: bytes32, policyURI: String[256]):
    self._only_operator()
    assert classId != 0, "class 0"
    assert len(self.classes[classId].name) == 0, "class exists"
    assert len(name) > 0, "unnamed class"
    self.classes[classId] = AssetClass(name=name, metadataURI=metadataURI, integrityHash=integrityHash, policyURI=policyURI)
    log ClassCreated(classId=classId, name=name, metadataURI=metadataURI, integrityHash=integrityHash, policyURI=policyURI)


@external
def mint(to: address, tokenId: uint256, classId: uint256, quota: uint256, shareRatio: uint256, expireAt: uint256, integrityHash: bytes32, policyURI: String[256]):
    self._only_operator()
    assert to != empty(address), "mint to zero"
    assert not self._exists(tokenId), "token exists"
    assert len(self.classes[classId].name) > 0, "unknown class"
    self._owner[tokenId] = to
    self._class[tokenId] = classId
    self._value[tokenId] = quota
    self._share[tokenId] = shareRatio
    self._expire[tokenId] = expireAt
    self._integrity[tokenId] = integrityHash
    self._policy[tokenId] = policyURI
    self.balanceOf[to] += 1
    self.totalSupply += 1
    log Minted(to=to, tokenId=tokenId, classId=classId, value=quota, shareRatio=shareRatio, expireAt=expireAt)


@external
def transferToken(tokenId: uint256, to: address):
    self._only_operator()
    assert self._exists(tokenId), "unknown token"
    assert to != empty(address), "transfer to zero"
    previous: address = self._owner[tokenId]
    self._owner[tokenId] = to
    self.balanceOf[previous] -= 1
    self.balanceOf[to] += 1
    log TransferToken(tokenFrom=previous, tokenTo=to, tokenId=tokenId)


@external
def updatePolicy(tokenId: uint256, policyURI: String[256], quota: uint256, expireAt: uint256):
    self._only_operator()
    assert self._exists(tokenId), "unknown token"
    self._policy[tokenId] = policyURI
    self._value[tokenId] = quota
    self._expire[tokenId] = expireAt
    log PolicyUpdated(tokenId=tokenId, policyURI=policyURI, value=quota, expireAt=expireAt)


@external
def revoke(tokenId: uint256):
    self._only_operator()
    assert self._exists(tokenId), "unknown token"
    self._revoked[tokenId] = True
    log Revoked(tokenId=tokenId)


@external
def recordUsage(tokenId: uint256, amount: uint256):
    self._only_operator()
    assert self._exists(tokenId), "unknown token"
    self._used[tokenId] += amount
    log UsageRecorded(tokenId=tokenId, amount=amount, used=self._used[tokenId])


@external
@view
def ownerOf(tokenId: uint256) -> address:
    assert self._exists(tokenId), "unknown token"
    return self._owner[tokenId]


@external
@view
def classOf(tokenId: uint256) -> uint256:
    return self._class[tokenId]


@external
@view
def valueOf(tokenId: uint256) -> uint256:
    return self._value[tokenId]


@external
@view
def shareRatioOf(tokenId: uint256) -> uint256:
    return self._share[tokenId]


@external
@view
def expireAtOf(tokenId: uint256) -> uint256:
    return self._expire[tokenId]


@external
@view
def usedOf(tokenId: uint256) -> uint256:
    return self._used[tokenId]


@external
@view
def integrityHashOf(tokenId: uint256) -> bytes32:
    return self._integrity[tokenId]


@external
@view
def policyURIOf(tokenId: uint256) -> String[256]:
    return self._policy[tokenId]


@external
@view
def isRevoked(tokenId: uint256) -> bool:
    return self._revoked[tokenId]
