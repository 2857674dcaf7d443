"""The set-based SQL that closes an epoch. One statement attributes the epoch's usage to DATs,
one computes the whole payout table; no Python loop ever touches an event.

`rw_muldiv(a, b, c, d, e)` is floor(a·b·c / (d·e)) in exact arithmetic: a SQL function over
NUMERIC on PostgreSQL (migration 0002), a Python function on SQLite (rewards.apps). The formulas
are explained in docs/rewards.md.

These statements read ten tables owned by four other apps, bypassing their Python interfaces (for
speed: one statement per step): portal_user; idaos_idao, idaos_modelversion, idaos_agentversion,
idaos_manifestentry; quorums_validator, quorums_seat, quorums_verdict, quorums_equivocation;
dats_dat. docs/contracts.md lists them beside each owner's contract: a change to one of those
tables must update these statements in the same commit."""

from __future__ import annotations

# Run by every usage report in its transaction: add the events it inserted to the epoch's usage
# per asset version. Rows are upserted in asset order, so concurrent reports never deadlock.
USAGE_ADD = """
INSERT INTO rewards_epochusage (epoch_id, asset, idao_id, model_version_id, agent_version_id, events, weighted, fees)
SELECT epoch_id, COALESCE(model_version_id, -agent_version_id), idao_id, model_version_id, agent_version_id,
       COUNT(*), SUM(weighted), SUM(fee)
FROM rewards_usageevent WHERE report_id = %s
GROUP BY epoch_id, idao_id, model_version_id, agent_version_id
ORDER BY 2
ON CONFLICT (epoch_id, asset) DO UPDATE SET
    events = rewards_epochusage.events + EXCLUDED.events,
    weighted = rewards_epochusage.weighted + EXCLUDED.weighted,
    fees = rewards_epochusage.fees + EXCLUDED.fees
"""

USAGE_TOTALS = "SELECT COALESCE(SUM(events), 0), COALESCE(SUM(weighted), 0), COALESCE(SUM(fees), 0) FROM rewards_epochusage WHERE epoch_id = %s"

# Weighted usage per asset version, then the DATs it is attributed to:
#   the version's own DAT (artifact hash = DAT.sha256 or keccak256) takes model_bps,
#   the manifest's DATs share the rest equally; with only one side, it takes everything;
#   with neither, the usage stays with the model's iDAO (dat_id NULL: its treasury).
ATTRIBUTE = """
INSERT INTO rewards_attribution (epoch_id, idao_id, dat_id, weight)
WITH used AS (
    SELECT idao_id, model_version_id AS mv_id, agent_version_id AS av_id, weighted AS w
    FROM rewards_epochusage WHERE epoch_id = %(epoch)s AND weighted > 0
),
u AS (
    SELECT used.idao_id, used.mv_id, used.w, COALESCE(used.mv_id, -used.av_id) AS asset,
           COALESCE(mv.artifact_hash, av.artifact_hash, '') AS artifact
    FROM used
    LEFT JOIN idaos_modelversion mv ON mv.id = used.mv_id
    LEFT JOIN idaos_agentversion av ON av.id = used.av_id
),
own AS (
    SELECT asset, MIN(dat_id) AS dat_id FROM (
        SELECT u.asset, d.id AS dat_id FROM u JOIN dats_dat d ON d.sha256 = LOWER(u.artifact)
        UNION ALL
        SELECT u.asset, d.id FROM u JOIN dats_dat d ON d.keccak256 = LOWER(u.artifact)
    ) hits GROUP BY asset
),
versions AS (SELECT me.model_version_id, me.data_ref FROM idaos_manifestentry me WHERE me.model_version_id IN (SELECT mv_id FROM u)),
manifest AS (
    SELECT v.model_version_id AS asset, d.id AS dat_id FROM versions v JOIN dats_dat d ON v.data_ref = 'dat:' || d.id
    UNION
    SELECT v.model_version_id, d.id FROM versions v JOIN dats_dat d ON d.sha256 = LOWER(v.data_ref)
    UNION
    SELECT v.model_version_id, d.id FROM versions v JOIN dats_dat d ON d.keccak256 = LOWER(v.data_ref)
),
man_n AS (SELECT asset, COUNT(*) AS n FROM manifest GROUP BY asset),
lines AS (
    SELECT u.idao_id AS usage_idao, own.dat_id,
           rw_muldiv(u.w, CASE WHEN man_n.n IS NULL THEN 10000 ELSE %(model_bps)s END, %(scale)s, 10000, 1) AS weight
    FROM u JOIN own ON own.asset = u.asset LEFT JOIN man_n ON man_n.asset = u.asset
    UNION ALL
    SELECT u.idao_id, manifest.dat_id,
           rw_muldiv(u.w, CASE WHEN own.dat_id IS NULL THEN 10000 ELSE 10000 - %(model_bps)s END, %(scale)s, 10000, man_n.n)
    FROM u JOIN manifest ON manifest.asset = u.asset JOIN man_n ON man_n.asset = u.asset
    LEFT JOIN own ON own.asset = u.asset
    UNION ALL
    SELECT u.idao_id, NULL, rw_muldiv(u.w, %(scale)s, 1, 1, 1)
    FROM u LEFT JOIN own ON own.asset = u.asset LEFT JOIN man_n ON man_n.asset = u.asset
    WHERE own.dat_id IS NULL AND man_n.n IS NULL
)
SELECT %(epoch)s, COALESCE(d.idao_id, lines.usage_idao), lines.dat_id, SUM(lines.weight)
FROM lines LEFT JOIN dats_dat d ON d.id = lines.dat_id
GROUP BY COALESCE(d.idao_id, lines.usage_idao), lines.dat_id
HAVING SUM(lines.weight) > 0
"""

# The payout table, per asset:
#   iDAO share   S_i = floor(P · W_i / W)                 (W_i: the iDAO's attributed weight)
#   contributors C_i = floor(S_i · contributors_bps / 10000), per DAT floor(C_i · w_d / W_i);
#                under reward_weighting usage_x_score, floor(C_i · w_d·s_d · D_i / (W_i · Σ w·s))
#                with s_d the DAT's composite score (10000 when unscored) and D_i = Σ w_d over
#                the iDAO's DATs: the DATs' part of C_i is the same, split by usage × score
#   validators   V_i = floor(S_i · validators_bps / 10000),
#                per DAT and approving seat floor(V_i · w_d · stake / (W_i · round stake))
#   a contested DAT's contributor line goes to escrow:dat:<id> until its challenge ends (and, after
#   this statement, so does that of a DAT still inside its challenge window: rewards.services.escrows)
#   treasury     S_i minus everything paid above, plus, for the iDAO with the most usage,
#                P minus the sum of all S_i: so the lines sum exactly to P.
PAYOUTS = """
INSERT INTO rewards_payout (epoch_id, asset, role, recipient, user_id, idao_id, dat_id, amount)
WITH pool(asset, amount) AS (
    SELECT 'LAZ', CAST(%(pool_laz)s AS NUMERIC) UNION ALL SELECT 'CREDIT', CAST(%(pool_credit)s AS NUMERIC)
),
att AS (SELECT idao_id, dat_id, weight FROM rewards_attribution WHERE epoch_id = %(epoch)s),
iw AS (SELECT idao_id, SUM(weight) AS w FROM att GROUP BY idao_id),
total AS (SELECT SUM(w) AS w FROM iw),
biggest AS (SELECT idao_id FROM (
    SELECT idao_id, ROW_NUMBER() OVER (ORDER BY w DESC, idao_id) AS rn FROM iw
) ranked WHERE rn = 1),
share AS (
    SELECT p.asset, iw.idao_id, iw.w, rw_muldiv(p.amount, iw.w, 1, total.w, 1) AS amount
    FROM pool p CROSS JOIN iw CROSS JOIN total WHERE p.amount > 0
),
rest AS (
    SELECT p.asset, p.amount - SUM(s.amount) AS amount FROM pool p JOIN share s ON s.asset = p.asset GROUP BY p.asset, p.amount
),
dscore AS (
    SELECT a.idao_id, a.dat_id, a.weight,
           CASE WHEN i.reward_weighting = 'usage_x_score'
                THEN CAST(COALESCE(d.scores ->> 'composite', '10000') AS NUMERIC) ELSE 10000 END AS score
    FROM att a JOIN dats_dat d ON d.id = a.dat_id JOIN idaos_idao i ON i.id = a.idao_id
),
dw AS (SELECT idao_id, SUM(weight) AS w, SUM(weight * score) AS sw FROM dscore GROUP BY idao_id),
split AS (
    SELECT s.asset, s.idao_id, s.w, s.amount,
           rw_muldiv(s.amount, i.split_contributors_bps, 1, 10000, 1) AS c,
           rw_muldiv(s.amount, i.split_validators_bps, 1, 10000, 1) AS v
    FROM share s JOIN idaos_idao i ON i.id = s.idao_id
),
seats AS (
    SELECT d.id AS dat_id, v.user_id, s.stake, SUM(s.stake) OVER (PARTITION BY s.round_id) AS round_stake
    FROM dats_dat d
    JOIN quorums_seat s ON s.round_id = d.round_id
    JOIN quorums_validator v ON v.id = s.validator_id
    WHERE d.id IN (SELECT dat_id FROM att WHERE dat_id IS NOT NULL) AND s.stake > 0
      AND EXISTS (SELECT 1 FROM quorums_verdict vd
                  WHERE vd.round_id = s.round_id AND vd.validator_id = s.validator_id AND vd.verdict = 'approve')
      AND NOT EXISTS (SELECT 1 FROM quorums_equivocation q
                      WHERE q.round_id = s.round_id AND q.validator_id = s.validator_id)
),
lines AS (
    SELECT sp.asset, 'contributor' AS role, a.idao_id, a.dat_id, d.owner_id AS user_id,
           COALESCE(rw_muldiv(sp.c, a.weight * a.score, dw.w, sp.w, NULLIF(dw.sw, 0)), 0) AS amount
    FROM split sp JOIN dscore a ON a.idao_id = sp.idao_id JOIN dw ON dw.idao_id = sp.idao_id
    JOIN dats_dat d ON d.id = a.dat_id
    UNION ALL
    SELECT sp.asset, 'validator', a.idao_id, a.dat_id, seats.user_id,
           rw_muldiv(sp.v, a.weight, seats.stake, sp.w, seats.round_stake)
    FROM split sp JOIN att a ON a.idao_id = sp.idao_id AND a.dat_id IS NOT NULL JOIN seats ON seats.dat_id = a.dat_id
),
paid AS (SELECT asset, idao_id, SUM(amount) AS amount FROM lines GROUP BY asset, idao_id),
treasury AS (
    SELECT sp.asset, sp.idao_id,
           sp.amount - COALESCE(paid.amount, 0)
           + CASE WHEN sp.idao_id = (SELECT idao_id FROM biggest) THEN rest.amount ELSE 0 END AS amount
    FROM split sp
    JOIN rest ON rest.asset = sp.asset
    LEFT JOIN paid ON paid.asset = sp.asset AND paid.idao_id = sp.idao_id
)
SELECT %(epoch)s, l.asset, l.role,
       CASE WHEN l.role = 'contributor' AND cd.contested_at IS NOT NULL THEN 'escrow:dat:' || cd.id
            ELSE 'user:' || pu.address END,
       l.user_id, l.idao_id, l.dat_id, SUM(l.amount)
FROM lines l JOIN portal_user pu ON pu.id = l.user_id LEFT JOIN dats_dat cd ON cd.id = l.dat_id
GROUP BY l.asset, l.role, pu.address, cd.contested_at, cd.id, l.user_id, l.idao_id, l.dat_id
HAVING SUM(l.amount) > 0
UNION ALL
SELECT %(epoch)s, t.asset, 'treasury', 'idao:' || i.slug, NULL, t.idao_id, NULL, t.amount
FROM treasury t JOIN idaos_idao i ON i.id = t.idao_id
WHERE t.amount > 0
"""

# The DATs whose contributor line may go to escrow: the contested ones and those given (inside
# their challenge window, maybe), locked in id order (see rewards.services.escrows).
LOCK_HELD = "SELECT id FROM dats_dat WHERE contested_at IS NOT NULL OR id = ANY(%s) ORDER BY id FOR SHARE"

TOTALS = "SELECT asset, SUM(amount) FROM rewards_payout WHERE epoch_id = %s GROUP BY asset"

LEGS = """
SELECT recipient, asset, SUM(amount) FROM rewards_payout WHERE epoch_id = %s
GROUP BY recipient, asset ORDER BY recipient, asset
"""

PG_MULDIV = """
CREATE OR REPLACE FUNCTION rw_muldiv(a numeric, b numeric, c numeric, d numeric, e numeric)
RETURNS numeric LANGUAGE SQL IMMUTABLE PARALLEL SAFE AS $$ SELECT div(a * b * c, d * e) $$
"""
