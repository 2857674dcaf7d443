"""Page forms. They parse and shape input; the services validate the domain rules."""

from __future__ import annotations

import json
from typing import cast

from django import forms

from . import hooks
from .models import Domain, MembershipPolicy, ProposalKind, VotingRule


class IdaoForm(forms.Form):
    name = forms.CharField(max_length=120)
    slug = forms.SlugField(max_length=60, help_text="Lowercase letters, digits and hyphens; it names the treasury.")
    domain = forms.ChoiceField(choices=Domain.choices)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), required=False, max_length=5000)
    voting_rule = forms.ChoiceField(choices=VotingRule.choices)
    voting_period_hours = forms.IntegerField(min_value=1, max_value=24 * 60, initial=72)
    voting_delay_hours = forms.IntegerField(min_value=0, max_value=24 * 60, initial=0)
    quorum_percent = forms.DecimalField(min_value=0, max_value=100, decimal_places=2, initial=20)
    approval_threshold_percent = forms.DecimalField(min_value=0.01, max_value=100, decimal_places=2, initial=50)
    proposal_min_membership_days = forms.IntegerField(min_value=0, max_value=60, initial=0)
    proposal_min_stake = forms.IntegerField(min_value=0, initial=0, help_text="LAZ base units needed to propose.")
    membership_policy = forms.ChoiceField(choices=MembershipPolicy.choices)
    split_contributors_percent = forms.DecimalField(min_value=0, max_value=100, decimal_places=2, initial=70)
    split_treasury_percent = forms.DecimalField(min_value=0, max_value=100, decimal_places=2, initial=20)
    split_validators_percent = forms.DecimalField(min_value=0, max_value=100, decimal_places=2, initial=10)

    def charter(self) -> dict:
        d = self.cleaned_data

        def bps(name):
            return int(d[name] * 100)

        return {
            "voting_rule": d["voting_rule"],
            "voting_period": int(d["voting_period_hours"]) * 3600,
            "voting_delay": int(d["voting_delay_hours"]) * 3600,
            "quorum_bps": bps("quorum_percent"),
            "approval_threshold_bps": bps("approval_threshold_percent"),
            "proposal_min_membership_age": int(d["proposal_min_membership_days"]) * 86400,
            "proposal_min_stake": d["proposal_min_stake"],
            "membership_policy": d["membership_policy"],
            "split_contributors_bps": bps("split_contributors_percent"),
            "split_treasury_bps": bps("split_treasury_percent"),
            "split_validators_bps": bps("split_validators_percent"),
        }


PAYLOAD_HELP = (
    'JSON. include_data / remove_data: {"model_id": 1, "data_refs": ["0x…64 hex", "dat:12"]}; '
    'approve_model_update: {"model_id": 1, "artifact_hash": "0x…"}; '
    'change_agent_policy: {"agent_id": 1, "behaviour_policy": {…}}; '
    'change_charter: {"changes": {"quorum_bps": 3000}}; trust_quorum / drop_quorum: {"quorum_id": 1}; signal: {}.'
)


class ProposalForm(forms.Form):
    kind = forms.ChoiceField(choices=ProposalKind.choices)
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False, max_length=20000)
    payload = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}), required=False, initial="{}", help_text=PAYLOAD_HELP
    )
    submit_now = forms.BooleanField(required=False, initial=True, label="Submit now (otherwise save as a draft)")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Kinds registered downstream (idaos.hooks) are offered beside our own.
        own = set(ProposalKind.values)
        extra = [(k, k.replace("_", " ").capitalize()) for k in hooks.registered_kinds() if k not in own]
        cast(forms.ChoiceField, self.fields["kind"]).choices = [*ProposalKind.choices, *extra]

    def clean_payload(self) -> dict:
        raw = self.cleaned_data["payload"].strip() or "{}"
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"The payload is not valid JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The payload is a JSON object.")
        return value


class ModelForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    artifact_hash = forms.RegexField(regex=r"^0x[0-9a-fA-F]{64}$", help_text="0x followed by 64 hex digits.")
    manifest = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3, "class": "mono"}),
        required=False,
        help_text="Initial training data, one reference per line (0x… content hash or dat:<id>).",
    )

    def refs(self) -> list[str]:
        return [line.strip() for line in self.cleaned_data["manifest"].splitlines() if line.strip()]


class AgentForm(forms.Form):
    name = forms.CharField(max_length=120)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)
    behaviour_policy = forms.CharField(widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}), initial="{}")
    artifact_hash = forms.RegexField(
        regex=r"^0x[0-9a-fA-F]{64}$",
        required=False,
        help_text="The agent's artifact (0x followed by 64 hex digits): usage reports name it for rewards.",
    )

    def clean_behaviour_policy(self) -> dict:
        try:
            value = json.loads(self.cleaned_data["behaviour_policy"])
        except ValueError as exc:
            raise forms.ValidationError(f"The policy is not valid JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The policy is a JSON object.")
        return value
