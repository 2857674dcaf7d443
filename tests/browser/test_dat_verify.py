"""A visitor opens a DAT page, clicks Verify, and the browser re-checks the provenance bundle."""

from __future__ import annotations

import pytest

from dats import services as dat_services
from ledger.models import Leaf
from ledger.services import block_seal
from tests.dats.factories import make_idao, minted
from tests.personas import ALICE, BOB, CAROL

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _lineage():
    idao = make_idao(ALICE)
    parent = minted(idao, CAROL)
    dat = minted(idao, BOB, parents=[parent], title="Clinical notes")
    dat_services.dat_policy_change(dat_id=dat.pk, actor=dat.owner, changes={"price_credit": 3})
    block_seal()
    return dat


def test_visitor_clicks_verify_and_sees_the_check_pass(live_server, page):
    dat = _lineage()
    page.goto(f"{live_server.url}/dats/{dat.pk}/")
    page.get_by_role("button", name="Verify").click()
    result = page.locator("[data-verify-result][data-state]")
    result.wait_for()
    assert result.get_attribute("data-state") == "pass", result.inner_text()
    assert "Verified in your browser" in result.inner_text()
    checks = page.locator("[data-verify-checks] li").all_inner_texts()
    assert any(dat.sha256 in c for c in checks)
    assert any("1 ancestor(s)" in c for c in checks)
    assert any("published header chain" in c for c in checks)


def test_a_record_that_differs_from_its_anchor_fails_in_the_browser(live_server, page):
    dat = _lineage()
    # The page shows a SHA-256 that is not the anchored one (as a compromised page would).
    from dats.models import DAT

    DAT.objects.filter(pk=dat.pk).update(sha256="0x" + "ee" * 32)
    assert Leaf.objects.filter(pk=dat.anchor_leaf_id).exists()
    page.goto(f"{live_server.url}/dats/{dat.pk}/")
    page.get_by_role("button", name="Verify").click()
    result = page.locator("[data-verify-result][data-state]")
    result.wait_for()
    assert result.get_attribute("data-state") == "fail"
    assert "differs from the anchored one" in result.inner_text()
