"""Pages: the inbox (with its unread badge fragment), settings, email links and Atom feeds."""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import feedgenerator, timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import condition, require_http_methods, require_POST

from idaos.models import IDAO
from idaos.selectors import idao_get
from portal.errors import DomainError
from portal.http import AuthedRequest, PortalRequest
from portal.models import Event

from . import kinds, selectors, services
from .models import Channel, Notification


@login_required
def inbox(request: AuthedRequest) -> HttpResponse:
    data = selectors.inbox(user=request.user, limit=100)
    template = "notifications/inbox.html#inbox-list" if request.htmx else "notifications/inbox.html"
    return render(request, template, data)


@login_required
def badge(request: AuthedRequest) -> HttpResponse:
    return render(request, "notifications/inbox.html#badge", {"unread": selectors.unread_count(user=request.user)})


@login_required
def open_notification(request: AuthedRequest, notification_id: int) -> HttpResponse:
    row = get_object_or_404(
        Notification.objects.select_related("event"), pk=notification_id, recipient=request.user, channel=Channel.INAPP
    )
    if row.read_at is None:
        Notification.objects.filter(pk=row.pk, read_at__isnull=True).update(read_at=timezone.now())
    return redirect(kinds.link(row.event))


@login_required
@require_POST
def mark_all_read(request: AuthedRequest) -> HttpResponse:
    services.notifications_mark_read(user=request.user)
    if request.htmx:
        return render(request, "notifications/inbox.html#inbox-list", selectors.inbox(user=request.user, limit=100))
    return redirect("notifications:inbox")


WEBHOOK_ACTIONS = ("webhook_create", "webhook_test", "webhook_rotate", "webhook_delete", "webhook_enable")


def _webhook_action(request: AuthedRequest, action: str) -> tuple[str, str]:
    """Run one webhook form through the services the API uses: (message, secret shown once)."""
    post = request.POST
    if action == "webhook_create":
        slug = post.get("idao", "").strip()
        idao = idao_get(slug) if slug else None
        _hook, secret = services.webhook_create(
            owner=request.user, url=post.get("url", "").strip(), idao=idao, kinds_filter=post.getlist("kinds")
        )
        return "Webhook added. Copy its secret now: it is not shown again.", secret
    raw = post.get("webhook", "")
    if not raw.isdigit() or not 0 < int(raw) < 2**63:
        raise services.WebhookNotFound("No such webhook of yours.")
    webhook_id = int(raw)
    if action == "webhook_test":
        services.webhook_send_test(owner=request.user, webhook_id=webhook_id)
        return "Test event sent: see the delivery log below.", ""
    if action == "webhook_rotate":
        _hook, secret = services.webhook_rotate_secret(owner=request.user, webhook_id=webhook_id)
        return "New secret made. Copy it now: it is not shown again.", secret
    if action == "webhook_enable":
        services.webhook_enable(owner=request.user, webhook_id=webhook_id)
        return "Webhook enabled again.", ""
    services.webhook_delete(owner=request.user, webhook_id=webhook_id)
    return "Webhook deleted.", ""


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: AuthedRequest) -> HttpResponse:
    message, secret, status, action = "", "", 200, request.POST.get("action", "")
    if request.method == "POST":
        try:
            if action in WEBHOOK_ACTIONS:
                message, secret = _webhook_action(request, action)
                status = 201 if action == "webhook_create" else 200
            elif "address" in request.POST:
                services.email_set(
                    user=request.user,
                    address=request.POST["address"].strip(),
                    digest=request.POST.get("digest", "instant"),
                )
                message = "We sent a confirmation link to that address."
            else:
                items = []
                for pref in selectors.preferences(user=request.user):
                    key = f"{pref['kind']}:{pref['channel']}"
                    items.append((pref["kind"], pref["channel"], key in request.POST))
                services.preferences_set(user=request.user, items=items)
                message = "Preferences saved."
        except DomainError as exc:
            message, status = exc.detail, exc.status
    context = {
        "webhooks": selectors.webhooks_of(user=request.user),
        "deliveries": selectors.recent_deliveries(user=request.user),
        "stewarded": selectors.stewarded_idaos(user=request.user),
        "kinds": kinds.KINDS,
        "webhook_message": message if action in WEBHOOK_ACTIONS else "",
        "secret": secret,
    }
    if request.htmx and action in WEBHOOK_ACTIONS:
        # htmx swaps only 2xx answers: a refusal comes back as the fragment with its message
        return render(request, "notifications/settings.html#webhooks", context)
    context.update(
        preferences=selectors.preferences(user=request.user),
        email=getattr(request.user, "email_address", None),
        message="" if action in WEBHOOK_ACTIONS else message,
    )
    return render(request, "notifications/settings.html", context, status=status)


def email_verify(request: PortalRequest, token: str) -> HttpResponse:
    try:
        record = services.email_verify(token=token)
    except DomainError as exc:
        return render(request, "notifications/email_link.html", {"message": exc.detail}, status=400)
    return render(request, "notifications/email_link.html", {"message": f"{record.address} is confirmed."})


@csrf_exempt  # RFC 8058 one-click: the mail client POSTs without a session; the signed token is the proof
@require_http_methods(["GET", "POST"])
def unsubscribe(request: PortalRequest, token: str) -> HttpResponse:
    if request.method == "GET":
        return render(request, "notifications/email_link.html", {"unsubscribe": True, "token": token})
    try:
        record = services.email_unsubscribe(token=token)
    except DomainError as exc:
        return render(request, "notifications/email_link.html", {"message": exc.detail}, status=400)
    return render(request, "notifications/email_link.html", {"message": f"{record.address} will get no more email."})


def _last(events: list[Event]):
    return max((e.created_at for e in events), default=None)


def _feed(request: PortalRequest, title: str, link: str, events: list[Event]) -> HttpResponse:
    feed = feedgenerator.Atom1Feed(title=title, link=request.build_absolute_uri(link), description=title)
    for event in events:
        url = request.build_absolute_uri(kinds.link(event))
        feed.add_item(
            title=kinds.title(event),
            link=url,
            description=kinds.KINDS.get(event.kind, event.kind),
            unique_id=request.build_absolute_uri(f"/events/{event.pk}"),
            pubdate=event.created_at,
            updateddate=event.created_at,
            categories=[event.kind],
        )
    response = HttpResponse(content_type="application/atom+xml; charset=utf-8")
    feed.write(response, "utf-8")
    response["Cache-Control"] = "public, max-age=60"
    return response


def _idao_events(slug: str) -> list[Event]:
    idao = IDAO.objects.filter(slug=slug).first()
    if idao is None:
        raise Http404("No such iDAO")
    return selectors.feed_events(idao_id=idao.pk)


def _idao_etag(request: PortalRequest, slug: str) -> str | None:
    events = _idao_events(slug)
    return f'"{events[0].pk}-{len(events)}"' if events else '"empty"'


def _idao_modified(request: PortalRequest, slug: str):
    return _last(_idao_events(slug))


@condition(etag_func=_idao_etag, last_modified_func=_idao_modified)
def idao_feed(request: PortalRequest, slug: str) -> HttpResponse:
    return _feed(
        request, f"iDAO {slug}: proposals and outcomes", reverse("idaos:detail", args=[slug]), _idao_events(slug)
    )


def _dat_events(dat_id: int) -> list[Event]:
    return selectors.feed_events(subject=f"dat:{dat_id}")


@condition(
    etag_func=lambda request, dat_id: (lambda ev: f'"{ev[0].pk}-{len(ev)}"' if ev else '"empty"')(_dat_events(dat_id)),
    last_modified_func=lambda request, dat_id: _last(_dat_events(dat_id)),
)
def dat_feed(request: PortalRequest, dat_id: int) -> HttpResponse:
    return _feed(request, f"DAT {dat_id}: events", f"/dats/{dat_id}/", _dat_events(dat_id))
