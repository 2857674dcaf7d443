"""The API token scopes: the one documented set (README "JSON API"). Every operation that accepts
a bearer token names the scope it needs (`auth=api_auth(scope=...)`); a token without it gets 403
`insufficient_scope`. Reading your own account (`/auth/me`, earnings, your contributions) needs
a valid token and no particular scope. Sessions are not scope-limited."""

from __future__ import annotations

SCOPES = {
    "dats:access": "Request access grants to DATs and download the granted files",
    "usage:report": "Report usage of models and agents (rewards)",
    "contributions:write": "Upload contributions and declare what they were derived from",
    "validator": "Act as a validator: assignments, verdicts, bonds, committee downloads",
    "governance:write": "Form and join iDAOs, create proposals and cast ballots",
    "dats:manage": "Change, revoke and transfer DATs you own and declare their parents",
    "treasury": "Move iDAO treasury funds (stewards' credit grants)",
    "moderation": "Staff only: create quorums and change their parameters",
    "notifications": "Read your notifications, set preferences and manage webhooks",
}
