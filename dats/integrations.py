"""What dats plugs into upstream apps (registered in DatsConfig.ready(), nowhere else): the
manifest check (idaos data-ref checker), the file download a grant allows (contributions), the
`idao:<slug>` API-token subject (portal.api_tokens) and the DAT panel of the iDAO page."""

from __future__ import annotations

from typing import Any

from django.urls import reverse

from idaos.selectors import is_steward
from portal.errors import DomainError, Forbidden, NotFound

from .models import DAT
from .selectors import dat_for_ref, training_problem, valid_grant


class DatForbidsTraining(DomainError):
    code = "dat_forbids_training"
    status = 422


def check_data_ref(idao: Any, data_ref: str, purpose: str) -> None:
    if data_ref.startswith("dat:"):
        dat = dat_for_ref(data_ref)
        if dat is None:
            raise NotFound(f"There is no DAT #{data_ref[4:]}.", code="dat_not_found")
    else:
        dat = dat_for_ref(data_ref)
        if dat is None:
            return  # a plain content hash with no DAT: governance decides on its own
    problem = training_problem(dat, purpose=purpose)
    if problem:
        raise DatForbidsTraining(f"DAT #{dat.pk} cannot enter a training manifest: {problem}")


def describe_data_refs(refs: list[str]) -> dict[str, dict]:
    """idaos.hooks data-ref describer: each `dat:<id>` (or hash) that names a DAT, with its title,
    iDAO and why it may not be trained on (for the proposal builder's preview and warnings)."""
    out: dict[str, dict] = {}
    for ref in refs[:200]:
        dat = dat_for_ref(ref)
        if dat is not None:
            out[ref] = {
                "id": dat.pk,
                "label": f"DAT #{dat.pk} “{dat.title}”",
                "idao_id": dat.idao_id,
                "idao": dat.idao.name,
                "problem": training_problem(dat, purpose="training"),
            }
    return out


def contribution_download_grant(user: Any, contribution: Any) -> bool:
    """contributions.hooks download grant: a valid access grant lets its holder fetch the file."""
    dat = DAT.objects.filter(contribution=contribution).first()
    return dat is not None and valid_grant(dat=dat, user=user) is not None


def idao_token_subjects(user: Any) -> list[tuple[str, str]]:
    """API-token subjects `idao:<slug>` for the iDAOs the user stewards (portal.api_tokens registry)."""
    from idaos.models import IDAO, MembershipStatus, Role

    idaos = (
        IDAO.objects.filter(
            memberships__user=user, memberships__status=MembershipStatus.ACTIVE, memberships__role=Role.STEWARD
        )
        .order_by("name")
        .distinct()
    )
    return [(f"idao:{idao.slug}", f"{idao.name} (steward)") for idao in idaos]


def idao_token_authorise(user: Any, subject: str) -> None:
    """Only a steward of the iDAO may create an API token acting for (and paying from) it."""
    from idaos.models import IDAO
    from portal.api_tokens import InvalidToken

    idao = IDAO.objects.filter(slug=subject.removeprefix("idao:")).first()
    if idao is None:
        raise InvalidToken("A token acts for you or for an iDAO you steward (idao:<slug>).")
    if not is_steward(idao=idao, user=user):
        raise Forbidden(f"Only stewards of {idao.name} may create tokens for its pipelines.", code="not_steward")


def idao_panel(idao: Any) -> dict:
    """The iDAO page's link to its DATs in the explorer."""
    count = DAT.objects.filter(idao=idao).count()
    return {
        "title": "Data Anchoring Tokens",
        "items": [
            {
                "label": f"{count} DAT{'s' if count != 1 else ''} of this iDAO",
                "url": f"{reverse('dats:dat_list')}?idao={idao.slug}",
                "note": "in the DAT explorer",
            }
        ],
    }
