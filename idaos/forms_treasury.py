"""Page forms of the treasury: a treasury proposal without JSON, a veto, a comment."""

from __future__ import annotations

from django import forms

from ledger.models import Asset

KINDS = (
    ("treasury_transfer", "Transfer once"),
    ("treasury_stream", "Stream: a fixed amount every reward epoch"),
)


class TreasuryProposalForm(forms.Form):
    kind = forms.ChoiceField(choices=KINDS, widget=forms.RadioSelect, initial="treasury_transfer")
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=20000)
    asset = forms.ChoiceField(choices=Asset.choices)
    amount = forms.RegexField(
        regex=r"^[0-9]{1,78}$",
        max_length=78,
        help_text="Base units (whole number). For a stream: the amount paid at each epoch close.",
        error_messages={"invalid": "A whole number of base units."},
    )
    to = forms.CharField(
        max_length=100,
        help_text="An Ethereum address (0x…), or idao:<slug> for another iDAO's treasury (transfers only).",
    )
    epochs = forms.IntegerField(
        min_value=1, max_value=520, required=False, help_text="Streams only: for how many reward epochs."
    )
    memo = forms.CharField(max_length=200, required=False)
    discussion_url = forms.URLField(
        max_length=500, required=False, assume_scheme="https", help_text="Optional: a forum thread about it."
    )

    def clean(self) -> dict:
        data = super().clean() or {}
        if data.get("kind") == "treasury_stream" and not data.get("epochs"):
            self.add_error("epochs", "A stream runs for a number of epochs.")
        return data

    def payload(self) -> dict:
        d = self.cleaned_data
        if d["kind"] == "treasury_stream":
            return {
                "asset": d["asset"],
                "amount_per_epoch": d["amount"],
                "epochs": d["epochs"],
                "to": d["to"].strip(),
                "memo": d["memo"],
            }
        return {"asset": d["asset"], "amount": d["amount"], "to": d["to"].strip(), "memo": d["memo"]}


class CommentForm(forms.Form):
    body = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=10000, label="Comment (Markdown)")
    parent = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)


class ReasonForm(forms.Form):
    reason = forms.CharField(max_length=2000, min_length=3)
