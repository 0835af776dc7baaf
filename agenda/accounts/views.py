"""Login, logout, dashboards, profile and API tokens, admin pages."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user
from sqlalchemy import select

from agenda.accounts import services
from agenda.accounts.access import roles_required
from agenda.accounts.forms import (
    ForgotPasswordForm,
    LoginForm,
    OrganisationForm,
    PasswordChangeForm,
    ResetPasswordForm,
    TokenForm,
    UserForm,
)
from agenda.accounts.models import ApiToken, Organisation, OrgKind, ServiceLink, User
from agenda.accounts.scope import is_operator, managed_org_clause
from agenda.errors import DomainError
from agenda.extensions import db, login_manager
from agenda.web import commit_or_flash, field_error, safe_next

bp = Blueprint("accounts", __name__)

login_manager.login_view = "accounts.login"
login_manager.login_message = None


@login_manager.user_loader
def load_user(session_id: str) -> User | None:
    return services.user_for_session(session_id)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("accounts.dashboard"))
    form = LoginForm()
    status = 200
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.email.data, form.password.data,
                                         request.remote_addr or "?")
        except DomainError as exc:
            flash(exc.message, "error")
            status = exc.status if exc.status == 429 else 401
        else:
            login_user(user)
            return redirect(safe_next(request.args.get("next")) or url_for("accounts.dashboard"))
    elif request.method == "POST":
        status = 400
    return render_template("accounts/login.html", form=form), status


@bp.route("/mot-de-passe-oublie", methods=["GET", "POST"])
def forgot_password():
    form = ForgotPasswordForm()
    if form.validate_on_submit():
        services.request_password_reset(form.email.data)
        flash(_("Si un compte existe pour cette adresse, un lien de réinitialisation vient "
                "d'y être envoyé."), "info")
        return redirect(url_for("accounts.login"))
    return render_template("accounts/forgot.html", form=form)


@bp.route("/mot-de-passe/<token>", methods=["GET", "POST"])
def reset_password(token: str):
    user = services.user_for_reset_token(token)
    form = ResetPasswordForm()
    if form.validate_on_submit():
        try:
            services.set_password(user, form.password.data)
        except DomainError as exc:
            flash(exc.message, "error")
        else:
            from agenda import audit

            audit.record("password.reset", "user", user.id, user_id=user.id)
            db.session.commit()
            flash(_("Mot de passe enregistré : vous pouvez vous connecter."), "info")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/reset.html", form=form)


@bp.post("/logout")
@roles_required()
def logout():
    services.end_sessions(current_user)  # a copied session cookie dies too
    db.session.commit()
    logout_user()
    flash(_("Vous êtes déconnecté."), "info")
    return redirect(url_for("accounts.login"))


@bp.get("/")
@roles_required()
def dashboard():
    """One dashboard per role; each domain adds its panels through `dashboard_panels`."""
    from markupsafe import Markup

    from agenda.dashboard import panels_for

    panels = []
    for panel in panels_for(current_user):
        # Each panel template sees its own context, spread (and whole as ``p``).
        html = render_template(panel["template"], p=panel, **panel)
        panels.append({"title": panel["title"], "html": Markup(html)})
    return render_template("accounts/dashboard.html", panels=panels)


@bp.route("/compte", methods=["GET", "POST"])
@roles_required()
def profile():
    token_form = TokenForm(prefix="token")
    password_form = PasswordChangeForm(prefix="pw")
    new_token = None
    status = 200
    action = request.form.get("action") if request.method == "POST" else None
    if action == "token" and token_form.validate_on_submit():
        new_token = services.create_token(current_user, token_form.name.data)
        db.session.commit()
    elif action == "password" and password_form.validate_on_submit():
        if not services.check_password(current_user, password_form.current.data):
            field_error(password_form, "current", _("Mot de passe actuel incorrect."))
            status = 400
        else:
            try:
                services.set_password(current_user, password_form.new.data)
            except DomainError as exc:  # too short: said under the new password
                db.session.rollback()
                field_error(password_form, "new", exc.message)
                status = exc.status
            else:
                db.session.commit()
                login_user(current_user._get_current_object())  # other sessions end
                flash(_("Mot de passe modifié."), "info")
    tokens = db.session.scalars(select(ApiToken).where(
        ApiToken.user_id == current_user.id, ApiToken.revoked_at.is_(None))).all()
    new_token_expires = max((t.expires_at for t in tokens if t.expires_at), default=None)
    return render_template("accounts/profile.html", token_form=token_form,
                           password_form=password_form, tokens=tokens, new_token=new_token,
                           new_token_expires=new_token_expires if new_token else None), status


@bp.post("/compte/jetons/<int:token_id>/revoquer")
@roles_required()
def revoke_token(token_id: int):
    services.revoke_token(current_user, token_id)
    db.session.commit()
    flash(_("Jeton révoqué."), "info")
    return redirect(url_for("accounts.profile"))


# --- administration: the platform operator (every CPTS) and CPTS administrators ---------

ADMIN_ROLES = ("admin", "operator")


def _scope_cpts() -> int | None:
    """None for the operator (every CPTS), else the administrator's CPTS."""
    return None if is_operator(current_user) else current_user.cpts_id


def _managed_orgs() -> list[Organisation]:
    stmt = select(Organisation).order_by(Organisation.name)
    cpts_id = _scope_cpts()
    if cpts_id is not None:
        stmt = stmt.where(managed_org_clause(cpts_id))
    return list(db.session.scalars(stmt))


def _all_cpts() -> list[Organisation]:
    return list(db.session.scalars(select(Organisation).where(
        Organisation.kind == OrgKind.CPTS.value).order_by(Organisation.name)))


def _links(cpts_id: int | None) -> list[ServiceLink]:
    stmt = select(ServiceLink).order_by(ServiceLink.ended_on.is_not(None), ServiceLink.id)
    if cpts_id is not None:
        stmt = stmt.where(ServiceLink.cpts_id == cpts_id)
    return list(db.session.scalars(stmt))


@bp.route("/admin/organisations", methods=["GET", "POST"])
@roles_required(*ADMIN_ROLES)
def admin_organisations():
    form = OrganisationForm()
    operator = is_operator(current_user)
    cpts = _all_cpts()
    if operator:
        form.cpts_id.choices = [(0, "—")] + [(o.id, o.name) for o in cpts]
        form.serves.choices = [(o.id, o.name) for o in cpts]
    else:
        form.kind.choices = [c for c in form.kind.choices if c[0] not in ("cpts", "platform")]
        form.cpts_id.choices = [(current_user.cpts_id, current_user.organisation.name)]
        form.serves.choices = form.cpts_id.choices
    status = 200
    if form.validate_on_submit():
        owner = form.cpts_id.data or None
        serves = form.serves.data or ([owner] if owner else [])
        done = commit_or_flash(lambda: services.create_organisation(
            form.name.data, form.kind.data, owner, form.finess.data, serves=serves,
            actor=current_user), form)
        status = done.status or status
        if done.ok:
            flash(_("Organisation créée."), "info")
            return redirect(url_for("accounts.admin_organisations"))
    elif request.method == "POST":
        status = 400
    scope = _scope_cpts()
    booking_orgs = list(db.session.scalars(select(Organisation).where(
        Organisation.kind.in_(("secretariat", "samu", "ed"))).order_by(Organisation.name)))
    return render_template("accounts/organisations.html", form=form, orgs=_managed_orgs(),
                           links=_links(scope), booking_orgs=booking_orgs,
                           cpts_choices=cpts if operator else [current_user.organisation],
                           operator=operator), status


@bp.post("/admin/liens")
@roles_required(*ADMIN_ROLES)
def grant_link():
    org = db.session.get(Organisation, request.form.get("organisation_id", type=int) or 0)
    cpts_id = request.form.get("cpts_id", type=int) or current_user.cpts_id
    if org is None:
        flash(_("Organisation introuvable."), "error")
        return redirect(url_for("accounts.admin_organisations")), 303
    try:
        services.link_organisation(org, cpts_id, actor=current_user)
    except DomainError as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(url_for("accounts.admin_organisations")), 303
    db.session.commit()
    flash(_("%(org)s réserve désormais pour cette CPTS.", org=org.name), "info")
    return redirect(url_for("accounts.admin_organisations"))


@bp.post("/admin/liens/<int:link_id>/terminer")
@roles_required(*ADMIN_ROLES)
def end_link(link_id: int):
    link = db.session.get(ServiceLink, link_id)
    scope = _scope_cpts()
    if link is None or (scope is not None and link.cpts_id != scope):
        abort(404)
    services.unlink_organisation(link.organisation, link.cpts_id, actor=current_user)
    db.session.commit()
    flash(_("Lien terminé : %(org)s ne réserve plus pour cette CPTS.",
            org=link.organisation.name), "info")
    return redirect(url_for("accounts.admin_organisations"))


@bp.route("/admin/utilisateurs", methods=["GET", "POST"])
@roles_required(*ADMIN_ROLES)
def admin_users():
    form = UserForm()
    if not is_operator(current_user):
        form.role.choices = [c for c in form.role.choices if c[0] != "operator"]
    orgs = _managed_orgs()
    form.organisation_id.choices = [(o.id, o.name) for o in orgs]
    created_password = None
    status = 200
    if form.validate_on_submit():
        org = db.session.get(Organisation, form.organisation_id.data)
        done = commit_or_flash(lambda: services.create_user(
            form.email.data, form.name.data, form.role.data, org, actor=current_user), form)
        status = done.status or status
        if done.ok:
            user, created_password = done.value
            flash(_("Compte créé pour %(email)s.", email=user.email), "info")
    elif request.method == "POST":
        status = 400
    users = db.session.scalars(select(User).where(
        User.organisation_id.in_([o.id for o in orgs])).order_by(User.email)).all()
    return render_template("accounts/users.html", form=form, users=users,
                           created_password=created_password), status


@bp.post("/admin/utilisateurs/<int:user_id>/activer")
@roles_required(*ADMIN_ROLES)
def toggle_user(user_id: int):
    target = db.session.get(User, user_id)
    try:
        services.set_user_active(current_user, user_id, not (target and target.active))
    except DomainError as exc:
        db.session.rollback()
        if exc.status == 404:
            abort(404)
        flash(exc.message, "error")
    else:
        db.session.commit()
    return redirect(url_for("accounts.admin_users"))


def _int_arg(name: str) -> int | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if not value.isdigit() or len(value) > 12:
        raise DomainError(_("Valeur invalide pour %(name)s : %(value)s", name=name,
                            value=value[:20]), field=name)
    return int(value)


def _day_arg(name: str):
    from datetime import date

    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError(_("Date invalide : %(d)s (attendu AAAA-MM-JJ).", d=value[:20]),
                          field=name) from None


@bp.get("/admin/journal")
@roles_required(*ADMIN_ROLES)
def audit_log():
    """Who opened what: filters by patient (a name typed, then one patient picked), user,
    organisation and period; pages of 50; CSV. Reading the log is itself logged."""
    from agenda import audit, auditlog

    errors: dict[str, str] = {}
    try:
        f = auditlog.LogFilter(patient_id=_int_arg("patient"), user_id=_int_arg("user"),
                               organisation_id=_int_arg("organisation"),
                               start=_day_arg("from"), end=_day_arg("to"),
                               page=_int_arg("page") or 1)
    except DomainError as exc:
        errors[exc.field or "from"] = exc.message
        f = auditlog.LogFilter()
    query = (request.args.get("q") or "").strip()[:100]
    hits = None
    if query and not f.patient_id:
        try:
            hits = auditlog.search_patients(current_user, query)
        except DomainError as exc:
            errors["q"] = exc.message
        else:
            audit.record("audit.search", "patient", None, detail=f"hits:{len(hits)};patient:"
                         + ",".join(str(h.id) for h in hits))
    if request.args.get("format") == "csv" and not errors:
        from agenda.coverage.csvexport import csv_response, technical
        from agenda.i18n import format_local_datetime

        audit.record("audit.export", "audit", None, detail=f.describe())
        db.session.commit()
        rows = [r.csv_row(format_local_datetime(r.entry.at, "dd/MM/yyyy HH:mm:ss"),
                          codes=technical()) for r in auditlog.export(current_user, f)]
        return csv_response(rows, auditlog.CSV_COLUMNS, "journal-acces.csv")
    audit.record("audit.view", "audit", None, detail=f.describe())
    db.session.commit()
    result = auditlog.page(current_user, f)
    users, orgs = auditlog.choices(current_user)
    return render_template(
        "accounts/audit.html", result=result, f=f, query=query, hits=hits, errors=errors,
        users=users, orgs=orgs,
        patient_name=auditlog.patient_name(current_user, f.patient_id) if f.patient_id
        else None), 400 if errors else 200


from agenda.accounts import panels as _panels  # noqa: E402,F401
