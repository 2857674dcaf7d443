"""OpenAPI description of the streaming upload endpoint (a plain Django view, see contributions.views.upload_api)."""

from __future__ import annotations

from portal.errors import statuses_of
from portal.routers import X_ERROR_CODES

UPLOAD_SCOPE = "contributions:write"  # the token scope the upload needs (checked in contributions.views)

UPLOAD = {
    "post": {
        "operationId": "dats_contribution_upload",
        "summary": "Upload a contribution (multipart, hashed while streaming)",
        "description": (
            "Streams the file to storage while computing SHA-256 and keccak-256; the contribution is then routed "
            "to a quorum the iDAO trusts. Bearer token, or session cookie with X-CSRFToken."
        ),
        "tags": ["contributions"],
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["file", "idao", "kind", "title", "licence"],
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "idao": {"type": "string", "description": "iDAO slug"},
                            "kind": {"type": "string", "enum": ["dataset", "model_weights", "agent", "model_update"]},
                            "title": {"type": "string", "maxLength": 200},
                            "description": {"type": "string", "maxLength": 5000},
                            "licence": {"type": "string", "maxLength": 80},
                            "allowed_uses": {"type": "array", "items": {"type": "string"}},
                            "price_credit": {"type": "integer", "minimum": 0},
                            "quota": {"type": "integer", "minimum": 1},
                            "expires_at": {"type": "string", "format": "date-time"},
                        },
                    }
                }
            },
        },
        "responses": {
            "201": {
                "description": "The contribution with its hashes and state",
                "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ContributionOut"}}},
            },
        },
        # Completed by portal.api like every operation: each status gets the ErrorOut schema and its
        # codes; the request-level ones (invalid_text, bad_request, too_many_parts, 401, csrf_failed,
        # 413, 422 invalid_input) are added there from the multipart body and the security.
        "security": [{"BearerAuth": [UPLOAD_SCOPE]}, {"PortalSessionAuth": []}],
        "x-required-scope": UPLOAD_SCOPE,
        X_ERROR_CODES: {
            str(status): sorted(codes)
            for status, codes in statuses_of(
                (
                    "insufficient_scope",
                    "idao_not_found",
                    "not_member",
                    "invalid_contribution",
                    "archive_refused",
                    "archive_too_expensive",
                    "duplicate_contribution",
                    "payload_too_large",
                )
            ).items()
        },
    }
}


def register() -> None:
    from portal.openapi_paths import register_openapi_path

    register_openapi_path("/api/v1/contributions/upload", UPLOAD)
