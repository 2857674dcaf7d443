"""OpenAPI description of the streaming upload endpoint (a plain Django view, see contributions.views.upload_api)."""

from __future__ import annotations

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
    "required": ["error", "detail"],
}

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
            "400": {"description": "Invalid form", "content": {"application/json": {"schema": _ERROR_SCHEMA}}},
            "401": {"description": "Not signed in", "content": {"application/json": {"schema": _ERROR_SCHEMA}}},
            "403": {
                "description": "Not a member of the iDAO",
                "content": {"application/json": {"schema": _ERROR_SCHEMA}},
            },
            "413": {
                "description": "File over the size limit",
                "content": {"application/json": {"schema": _ERROR_SCHEMA}},
            },
        },
    }
}


def register() -> None:
    from portal.api import register_openapi_path

    register_openapi_path("/api/v1/contributions/upload", UPLOAD)
