"""A validator signs in, opens the inbox, approves a contribution with the injected wallet
(eth_signTypedData_v4), and the round page shows the verdict."""

from __future__ import annotations

import json

import pytest

from quorums import services
from quorums.models import Verdict
from tests.quorums.factories import PROBE, setup_network

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_validator_approves_from_the_inbox_and_the_round_page_shows_the_verdict(live_server, page, wallet):
    idao, _quorum, ps = setup_network(3)
    r = services.round_open(idao_id=idao.pk, subject_kind=PROBE, subject_ref="browser", content_hash="0x" + "ee" * 32)
    validator = ps[0]
    requests = wallet(page, validator)

    page.goto(live_server.url + "/validator/inbox")
    page.get_by_role("button", name="Sign in with Ethereum").first.click()
    card = page.locator(f'[data-testid="assignment"][data-round="{r.pk}"]')
    card.wait_for()
    card.get_by_role("button", name="Approve").click()

    page.wait_for_url(f"**/rounds/{r.pk}/")
    row = page.get_by_test_id("verdicts").locator("tr", has=page.locator(f'[title="{validator.address}"]'))
    row.wait_for()
    assert row.get_by_test_id("verdict").inner_text() == "approve"

    method, params = requests[-1]
    assert method == "eth_signTypedData_v4" and params[0].lower() == validator.address.lower()
    typed = json.loads(params[1])
    assert typed["domain"]["name"] == "iDAO Portal" and typed["message"]["round"] == r.pk
    v = Verdict.objects.get(round=r)
    assert (v.validator.address, v.verdict, v.automated) == (validator.address, "approve", False)


def test_member_uploads_with_a_progress_bar_and_sees_the_computed_hash(live_server, page, wallet, tmp_path):
    import hashlib

    from contributions.models import Contribution
    from tests.personas import BOB
    from tests.quorums.factories import IdaoFactory, member

    idao = IdaoFactory()
    member(idao, BOB)
    data = tmp_path / "readings.csv"
    data.write_bytes(b"t,value\n" + b"1,2\n" * 100_000)
    wallet(page, BOB)
    page.goto(live_server.url + "/contributions/new")
    page.get_by_role("button", name="Sign in with Ethereum").first.click()
    page.locator("[data-upload-form]").wait_for()
    page.fill("input[name=title]", "Sensor readings")
    page.select_option("select[name=licence]", "CC-BY-4.0")
    page.set_input_files("input[name=file]", str(data))
    page.get_by_role("button", name="Upload").click()
    digest = "0x" + hashlib.sha256(data.read_bytes()).hexdigest()
    page.locator("[data-upload-status]").filter(has_text=digest).wait_for()
    assert page.locator("[data-upload-progress]").get_attribute("value") == "100"
    assert Contribution.objects.get(title="Sensor readings").sha256 == digest
