"""Page forms. They parse and shape input; the services validate the domain rules."""

from __future__ import annotations

import json
from typing import cast

from django import forms

from . import hooks
from .models import Agent, AIModel, Domain, MembershipPolicy, ProposalKind, VotingRule


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
    "Only if you need it: the action's payload as a JSON object, which replaces the fields above. "
    'include_data / remove_data: {"model_id": 1, "data_refs": ["dat:12"]}; '
    'approve_model_update: {"model_id": 1, "artifact_hash": "0x…"}; '
    'change_agent_policy: {"agent_id": 1, "behaviour_policy": {…}}; '
    'change_charter: {"changes": {"quorum_bps": 3000}}; trust_quorum / drop_quorum: {"quorum_id": 1}.'
)
HASH_RE = r"^0x[0-9a-fA-F]{64}$"
# The kinds the builder has fields for; other registered kinds (treasury actions have their own
# forms) take the raw payload under "details".
BUILT_KINDS = {k.value for k in ProposalKind}


class ManyValues(forms.Field):
    """Every value of a repeated form field (the DAT picker's checkboxes), as a list of strings."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            return []
        return [str(v).strip() for v in (value if isinstance(value, list | tuple) else [value]) if str(v).strip()]


class ProposalForm(forms.Form):
    """The proposal builder: a field per thing an action names, picked from lists; the form builds
    the payload the services validate. The raw JSON stays available under "details"."""

    kind = forms.ChoiceField(choices=ProposalKind.choices)
    title = forms.CharField(max_length=200)
    description = forms.CharField(widget=forms.Textarea(attrs={"rows": 5}), required=False, max_length=20000)
    model = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Model")
    dats = ManyValues(required=False, label="DATs")
    data_refs_text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        required=False,
        label="Other data references",
        help_text="Optional: one per line, dat:<number> or a 0x content hash.",
    )
    remove_refs = ManyValues(required=False, label="Data to remove")
    artifact_hash = forms.RegexField(
        regex=HASH_RE, required=False, label="Artifact hash", help_text="0x followed by 64 hex digits."
    )
    agent = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Agent")
    behaviour_policy = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 6, "class": "mono"}),
        required=False,
        label="New behaviour policy (JSON)",
        help_text="Prefilled with the agent's current policy: edit what should change.",
    )
    quorum = forms.TypedChoiceField(coerce=int, required=False, empty_value=None, label="Quorum")
    quorum_percent = forms.DecimalField(min_value=0, max_value=100, decimal_places=2, required=False)
    approval_threshold_percent = forms.DecimalField(min_value=0.01, max_value=100, decimal_places=2, required=False)
    voting_period_hours = forms.IntegerField(min_value=1, max_value=24 * 60, required=False)
    voting_delay_hours = forms.IntegerField(min_value=0, max_value=24 * 60, required=False)
    payload = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4, "class": "mono"}),
        required=False,
        label="Raw payload (JSON)",
        help_text=PAYLOAD_HELP,
    )
    # A signal with several options (docs/governance.md "Signals with several options").
    signal_options = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=2500,
        label="Options, one per line",
        help_text="2 to 10 options; with none, members vote for, against or abstain.",
    )
    signal_method = forms.ChoiceField(
        choices=[
            ("single", "Single choice: each member picks one"),
            ("approval", "Approval: each member approves any number"),
            ("ranked", "Ranked choice: members rank them (instant runoff)"),
        ],
        required=False,
        label="How members choose",
    )
    submit_now = forms.BooleanField(required=False, initial=True, label="Submit now (otherwise save as a draft)")

    def __init__(self, *args, idao=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Kinds registered downstream (idaos.hooks) are offered beside our own.
        own = set(ProposalKind.values)
        extra = [(k, k.replace("_", " ").capitalize()) for k in hooks.registered_kinds() if k not in own]
        cast(forms.ChoiceField, self.fields["kind"]).choices = [*ProposalKind.choices, *extra]
        if idao is not None:
            models = [("", "Choose a model…")] + [(m.pk, m.name) for m in AIModel.objects.filter(idao=idao)]
            agents = [("", "Choose an agent…")] + [(a.pk, a.name) for a in Agent.objects.filter(idao=idao)]
            quorums = [("", "Choose a quorum…"), *hooks.builder_choices("quorum", idao)]
            cast(forms.ChoiceField, self.fields["model"]).choices = models
            cast(forms.ChoiceField, self.fields["agent"]).choices = agents
            cast(forms.ChoiceField, self.fields["quorum"]).choices = quorums

    def clean_payload(self) -> dict | None:
        raw = self.cleaned_data["payload"].strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"The payload is not valid JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The payload is a JSON object.")
        return value

    def clean_behaviour_policy(self) -> dict | None:
        raw = self.cleaned_data["behaviour_policy"].strip()
        if not raw:
            return None
        try:
            value = json.loads(raw)
        except ValueError as exc:
            raise forms.ValidationError(f"The policy is not valid JSON: {exc}.") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("The policy is a JSON object.")
        return value

    def _need(self, name: str, sentence: str) -> None:
        if not self.cleaned_data.get(name):
            self.add_error(name, sentence)

    def clean(self) -> dict:
        data = super().clean() or {}
        if self.errors:
            return data
        kind = data.get("kind", "")
        if data.get("payload") is not None:
            return data
        if kind not in BUILT_KINDS:
            if kind != ProposalKind.SIGNAL:
                self.add_error("payload", "This kind has its own form; here, give its payload as JSON.")
            return data
        data["payload"] = self._built(kind, data)
        return data

    def data_refs(self) -> list[str]:
        d = self.cleaned_data
        picked = [f"dat:{v}" if v.isdigit() else v for v in d.get("dats") or []]
        typed = [line.strip() for line in (d.get("data_refs_text") or "").splitlines() if line.strip()]
        return list(dict.fromkeys(picked + typed))

    def _built(self, kind: str, d: dict) -> dict:
        if kind == ProposalKind.SIGNAL:
            options = [line.strip() for line in (d.get("signal_options") or "").splitlines() if line.strip()]
            return {"options": options, "method": d.get("signal_method") or "single"} if options else {}
        if kind in (ProposalKind.INCLUDE_DATA, ProposalKind.REMOVE_DATA):
            self._need("model", "Choose the model.")
            refs = self.data_refs() if kind == ProposalKind.INCLUDE_DATA else list(d.get("remove_refs") or [])
            refs += [] if kind == ProposalKind.INCLUDE_DATA else self.data_refs()
            if not refs:
                self.add_error(
                    "dats",
                    "Pick at least one DAT." if kind == ProposalKind.INCLUDE_DATA else "Pick the data to remove.",
                )
            return {"model_id": d.get("model"), "data_refs": refs}
        if kind == ProposalKind.APPROVE_MODEL_UPDATE:
            self._need("model", "Choose the model.")
            self._need("artifact_hash", "Give the new version's artifact hash.")
            return {"model_id": d.get("model"), "artifact_hash": d.get("artifact_hash")}
        if kind == ProposalKind.CHANGE_AGENT_POLICY:
            self._need("agent", "Choose the agent.")
            if d.get("behaviour_policy") is None:
                self.add_error("behaviour_policy", "Write the new policy.")
            payload = {"agent_id": d.get("agent"), "behaviour_policy": d.get("behaviour_policy")}
            if d.get("artifact_hash"):
                payload["artifact_hash"] = d["artifact_hash"]
            return payload
        if kind in (ProposalKind.TRUST_QUORUM, ProposalKind.DROP_QUORUM):
            self._need("quorum", "Choose the quorum.")
            return {"quorum_id": d.get("quorum")}
        changes: dict = {}
        if d.get("quorum_percent") is not None:
            changes["quorum_bps"] = int(d["quorum_percent"] * 100)
        if d.get("approval_threshold_percent") is not None:
            changes["approval_threshold_bps"] = int(d["approval_threshold_percent"] * 100)
        if d.get("voting_period_hours") is not None:
            changes["voting_period"] = int(d["voting_period_hours"]) * 3600
        if d.get("voting_delay_hours") is not None:
            changes["voting_delay"] = int(d["voting_delay_hours"]) * 3600
        if not changes:
            self.add_error("quorum_percent", "Change at least one charter value.")
        return {"changes": changes}


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


class StatementForm(forms.Form):
    text = forms.CharField(max_length=5000, required=False, widget=forms.Textarea)
