import pytest


@pytest.mark.django_db
def test_sign_in_then_me(signed_in, alice):
    client = signed_in(alice)
    assert client.get("/auth/me").json()["address"] == alice.address
