-- idaos_cast_ballot(): records one signed ballot in a single round trip on PostgreSQL.
--
-- This file is the one definition of the function: migrations 0002 and 0004 load it (see
-- idaos/migrations/_cast_ballot.py). Changing it needs a new migration that loads it again.
-- idaos.services.ballots.ballot_record_spec is its readable specification (and the SQLite
-- path); tests/idaos/test_ballot_record.py proves both give the same result case by case.
--
-- In order: take the proposal's advisory lock shared (the closer takes it exclusively), check
-- the iDAO, the ballot's type against the proposal's (a signal with several options takes only
-- OptionBallots, recorded with choice 'options'; every other proposal only Ballots; migration
-- 0010 added this check), the state and the window, serialise the voter's ballots with an advisory lock,
-- read the voter's snapshot weight, refuse a duplicate digest or a ballot not later than the
-- counted one, then mark the old ballot replaced and insert the new one. A `pending` ballot (a
-- contract wallet that has not approved the digest on chain yet) is inserted uncounted and
-- replaces nothing: idaos.services.ballots.pending_ballot_recheck counts it once it validates. In READ COMMITTED each
-- statement sees rows committed before it started, so the reads after the lock see any close
-- that committed while we waited.
CREATE OR REPLACE FUNCTION idaos_cast_ballot(
    p_proposal bigint, p_idao text, p_voter text, p_choice text, p_reason text, p_timestamp bigint,
    p_message jsonb, p_signature text, p_digest text, p_now timestamptz,
    p_verified_by text, p_chain_id bigint, p_block bigint,
    OUT code text, OUT ballot_id bigint, OUT weight numeric, OUT info text
) LANGUAGE plpgsql AS $$
DECLARE
    prop record;
    cur record;
BEGIN
    PERFORM pg_advisory_xact_lock_shared(7120, mod(p_proposal, 2147483647)::int);
    SELECT p.state, p.voting_starts_at, p.voting_ends_at, i.slug,
           (p.kind = 'signal' AND p.payload ? 'options') AS multi INTO prop
      FROM idaos_proposal p JOIN idaos_idao i ON i.id = p.idao_id WHERE p.id = p_proposal;
    IF NOT FOUND THEN code := 'not_found'; RETURN; END IF;
    IF prop.slug <> p_idao THEN code := 'wrong_idao'; info := prop.slug; RETURN; END IF;
    IF prop.multi <> (p_choice = 'options') THEN code := 'wrong_ballot_type'; RETURN; END IF;
    IF prop.state IN ('draft', 'pending') OR (prop.state = 'active' AND p_now < prop.voting_starts_at) THEN
        code := 'voting_not_open'; RETURN;
    END IF;
    IF prop.state <> 'active' OR p_now >= prop.voting_ends_at THEN code := 'voting_closed'; RETURN; END IF;
    IF NOT (floor(extract(epoch FROM prop.voting_starts_at)) <= p_timestamp
            AND p_timestamp < extract(epoch FROM prop.voting_ends_at)) THEN
        code := 'timestamp_outside_window'; RETURN;
    END IF;
    -- One voter's ballots on one proposal are serialised by an advisory lock (no row is written).
    PERFORM pg_advisory_xact_lock(hashtextextended(p_voter || ':' || p_proposal::text, 7120));
    SELECT vp.weight INTO weight FROM idaos_votingpower vp
     WHERE vp.proposal_id = p_proposal AND vp.voter = p_voter;
    IF NOT FOUND THEN code := 'no_voting_power'; weight := NULL; RETURN; END IF;
    IF EXISTS (SELECT 1 FROM idaos_ballot b WHERE b.proposal_id = p_proposal AND b.digest = p_digest) THEN
        code := 'duplicate_ballot'; weight := NULL; RETURN;
    END IF;
    SELECT b.id, b.timestamp INTO cur FROM idaos_ballot b
     WHERE b.proposal_id = p_proposal AND b.voter = p_voter AND b.counted;
    IF FOUND THEN
        IF p_timestamp <= cur.timestamp THEN code := 'superseded'; weight := NULL; RETURN; END IF;
        IF p_verified_by <> 'pending' THEN
            UPDATE idaos_ballot SET counted = false WHERE id = cur.id;
        END IF;
    END IF;
    INSERT INTO idaos_ballot (proposal_id, voter, choice, reason, timestamp, weight, message, signature, digest,
                              received_at, counted, verified_by, verified_chain_id, verified_block)
    VALUES (p_proposal, p_voter, p_choice, p_reason, p_timestamp, weight, p_message, p_signature, p_digest,
            p_now, p_verified_by <> 'pending', p_verified_by, p_chain_id, p_block)
    RETURNING id INTO ballot_id;
    code := 'ok';
END $$;
