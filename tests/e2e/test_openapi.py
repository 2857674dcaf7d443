"""The OpenAPI document is valid OpenAPI 3, names every endpoint the issues promise, and every GET
operation it describes answers JSON and never a 5xx, for a visitor and a signed-in member."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.management import call_command
from django.test import Client
from openapi_spec_validator import validate

from dats import erc8028
from dats.models import DAT
from idaos.models import Agent, AIModel, Proposal
from ledger.models import Block, Leaf
from portal.models import User
from quorums.models import Quorum, Round
from rewards.models import Epoch, Payout
from tests.personas import persona

pytestmark = pytest.mark.django_db

ERIN = persona("erin", 0x55)  # a plain member of the demo iDAOs

# (method, path) pairs the issues name: foundation (auth), governance, validation, DATs, rewards.
PROMISED = [
    ("get", "/auth/siwe/nonce"),
    ("post", "/auth/siwe/verify"),
    ("get", "/auth/me"),
    ("post", "/auth/logout"),
    ("get", "/api/v1/idaos"),
    ("post", "/api/v1/idaos"),
    ("post", "/api/v1/idaos/{slug}/join"),
    ("get", "/api/v1/idaos/{slug}/proposals"),
    ("post", "/api/v1/idaos/{slug}/proposals"),
    ("get", "/api/v1/proposals/{proposal_id}"),
    ("post", "/api/v1/proposals/{proposal_id}/votes"),
    ("post", "/api/v1/contributions/upload"),
    ("get", "/api/v1/validator/assignments"),
    ("post", "/api/v1/rounds/{round_id}/verdicts"),
    ("get", "/api/v1/models/{model_id}/manifest"),
    ("post", "/api/v1/dats/{dat_id}/access"),
    ("post", "/api/v1/usage"),
]


def spec(client: Client | None = None) -> dict:
    response = (client or Client()).get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def operations(document: dict):
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method in ("get", "post", "put", "patch", "delete"):
                yield method, path, operation


def test_the_openapi_document_is_valid_openapi_3():
    document = spec()
    assert document["openapi"].startswith("3.")
    validate(document)


def test_the_openapi_document_names_every_promised_endpoint():
    document = spec()
    present = {(method, path) for method, path, _ in operations(document)}
    missing = [f"{method.upper()} {path}" for method, path in PROMISED if (method, path) not in present]
    assert not missing, f"missing from /api/v1/openapi.json: {missing}"


def test_every_operation_has_a_unique_id_a_summary_and_one_tag():
    document = spec()
    ids = [op["operationId"] for _, _, op in operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert all(op.get("summary") for _, _, op in operations(document))
    for method, path, op in operations(document):
        assert len(op.get("tags") or []) == 1, f"{method.upper()} {path} is listed under tags {op.get('tags')}"


def demo_values() -> dict[str, str]:
    """A real value for every path parameter name the document uses, from the demo data."""
    call_command("demo_data", stdout=io.StringIO())
    call_command("seal_block", stdout=io.StringIO())
    payout = Payout.objects.select_related("epoch").first()
    first_dat = DAT.objects.order_by("pk").first()
    values = {
        "slug": "open-health",
        "proposal_id": Proposal.objects.order_by("pk").first().pk,
        "dat_id": DAT.objects.order_by("pk").first().pk,
        "class_id": erc8028.class_id_of(first_dat.idao_id, first_dat.klass),
        "model_id": AIModel.objects.order_by("pk").first().pk,
        "agent_id": Agent.objects.order_by("pk").first().pk if Agent.objects.exists() else 1,
        "leaf_id": Leaf.objects.order_by("pk").first().pk,
        "height": Block.objects.order_by("height").first().height,
        "owner": User.objects.order_by("pk").first().address,
        "address": User.objects.order_by("pk").first().address,
        "round_id": Round.objects.order_by("pk").first().pk,
        "quorum_id": Quorum.objects.order_by("pk").first().pk,
        "number": Epoch.objects.order_by("pk").first().number,
        "payout_id": payout.pk if payout else 1,
        "public_id": "unknown",
        "webhook_id": 1,  # nobody's: 404 webhook_not_found
        "comment_id": 1,  # no comment in the demo data: 404 comment_not_found
        "membership_id": 1,
        "validator_id": 1,
        "case_id": 1,
    }
    return {name: str(value) for name, value in values.items()}


def get_urls(document: dict, values: dict[str, str]) -> list[str]:
    """Every GET path filled with demo values, plus each with absurd values (which must be 4xx)."""
    urls = []
    for method, path, _ in operations(document):
        if method != "get":
            continue
        names = re.findall(r"{(\w+)}", path)
        assert set(names) <= set(values), f"no demo value for {set(names) - set(values)} in {path}"
        urls.append(re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path))
        if names:
            urls.append(re.sub(r"{(\w+)}", "999999999", path))
            urls.append(re.sub(r"{(\w+)}", "x%00%2F..", path))
            urls.append(re.sub(r"{(\w+)}", "%00", path))
    return urls


def smoke(client: Client, urls: list[str]) -> dict[str, int]:
    statuses, problems = {}, []
    for url in urls:
        response = client.get(url)
        statuses[url] = response.status_code
        if response.status_code >= 500:
            problems.append(f"{url} answered {response.status_code}")
        elif not response["Content-Type"].startswith("application/json"):
            problems.append(f"{url} answered {response['Content-Type']}")
        else:
            body = json.loads(response.content)
            if response.status_code >= 400 and not (isinstance(body, dict) and {"error", "detail"} <= set(body)):
                problems.append(f"{url} answered {response.status_code} without error and detail: {body}")
    assert not problems, "\n".join(problems)
    return statuses


def test_every_get_operation_answers_json_and_no_5xx_for_a_visitor_and_a_member(signed_in):
    values = demo_values()
    urls = get_urls(spec(), values)
    visitor = smoke(Client(), urls)
    member = smoke(signed_in(ERIN), urls)
    assert visitor["/auth/me"] == 401 and member["/auth/me"] == 200
    assert member["/api/v1/idaos"] == 200
    assert member[f"/api/v1/proposals/{values['proposal_id']}"] == 200
    assert member[f"/api/v1/models/{values['model_id']}/manifest"] == 200
    assert visitor["/api/v1/proposals/999999999"] == 404


def test_every_post_operation_refuses_junk_bodies_with_a_json_4xx(signed_in):
    """Malformed JSON, an empty object, wrong types and NUL bytes: a JSON 4xx naming the problem, never a 5xx."""
    values = demo_values()
    member = signed_in(ERIN)
    bodies = [
        "{",
        "[]",
        "{}",
        json.dumps(
            {
                "message": {"voter": 1},
                "signature": "0x00",
                "name": "\u0000",
                "amount": -1,
                "units": "many",
                "items": [{}],
                "slug": "x" * 500,
            }
        ),
    ]
    problems = []
    for method, path, _ in operations(spec()):
        if method != "post" or path == "/auth/logout":  # logout takes no body and would end the session
            continue
        url = re.sub(r"{(\w+)}", lambda m: values[m.group(1)], path)
        for body in bodies:
            response = member.post(url, body, content_type="application/json")
            if response.status_code >= 500 or response.status_code < 400:
                problems.append(f"POST {url} {body[:30]!r} answered {response.status_code}")
            elif not response["Content-Type"].startswith("application/json"):
                problems.append(f"POST {url} {body[:30]!r} answered {response['Content-Type']}")
            elif not {"error", "detail"} <= set(response.json()):
                problems.append(f"POST {url} {body[:30]!r} answered {response.json()}")
    assert not problems, "\n".join(problems)
    assert member.get("/auth/me").status_code == 200  # every request above was made signed in
