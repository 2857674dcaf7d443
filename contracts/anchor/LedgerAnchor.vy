# pragma version 0.4.3
# @title LedgerAnchor (iDAO Portal)
# @notice Public commitments to the portal ledger's sealed blocks. One `anchor` call covers the
#         blocks fromHeight..toHeight: `rootOfRoots` is the OpenZeppelin StandardMerkleTree root
#         over their (uint256 height, bytes32 blockHash) pairs and `lastBlockHash` is the hash of
#         block toHeight. Ranges follow each other with no gap. Only the publisher may anchor.
# @license CC0-1.0

struct Anchoring:
    fromHeight: uint256
    toHeight: uint256
    lastBlockHash: bytes32
    rootOfRoots: bytes32
    chainBlock: uint256

event Anchored:
    index: indexed(uint256)
    rootOfRoots: indexed(bytes32)
    fromHeight: uint256
    toHeight: uint256
    lastBlockHash: bytes32

event PublisherChanged:
    previous: indexed(address)
    publisher: indexed(address)

publisher: public(address)
anchorCount: public(uint256)
lastHeight: public(uint256)
anchorings: public(HashMap[uint256, Anchoring])
indexOfRoot: public(HashMap[bytes32, uint256])


@deploy
def __init__(_publisher: address):
    self.publisher = _publisher


@external
def anchor(fromHeight: uint256, toHeight: uint256, lastBlockHash: bytes32, rootOfRoots: bytes32):
    assert msg.sender == self.publisher, "not the publisher"
    assert fromHeight == self.lastHeight + 1, "not the next height"
    assert toHeight >= fromHeight, "empty range"
    assert self.indexOfRoot[rootOfRoots] == 0, "root already anchored"
    index: uint256 = self.anchorCount + 1
    self.anchorCount = index
    self.lastHeight = toHeight
    self.anchorings[index] = Anchoring(
        fromHeight=fromHeight,
        toHeight=toHeight,
        lastBlockHash=lastBlockHash,
        rootOfRoots=rootOfRoots,
        chainBlock=block.number,
    )
    self.indexOfRoot[rootOfRoots] = index
    log Anchored(index=index, rootOfRoots=rootOfRoots, fromHeight=fromHeight, toHeight=toHeight, lastBlockHash=lastBlockHash)


@external
def setPublisher(_publisher: address):
    assert msg.sender == self.publisher, "not the publisher"
    log PublisherChanged(previous=self.publisher, publisher=_publisher)
    self.publisher = _publisher


@external
@view
def anchoringOf(rootOfRoots: bytes32) -> Anchoring:
    """The anchoring that published `rootOfRoots` (all zero if none did)."""
    return self.anchorings[self.indexOfRoot[rootOfRoots]]
