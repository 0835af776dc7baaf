"""Login, logout, dashboards, profile and API tokens, admin pages."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
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
from agenda.accounts.models import ApiToken, Organisation, User
from agenda.audit import AuditEntry
from agenda.errors import DomainError
from agenda.extensions import db, login_manager
from agenda.web import safe_next

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
    action = request.form.get("action") if request.method == "POST" else None
    if action == "token" and token_form.validate_on_submit():
        new_token = services.create_token(current_user, token_form.name.data)
        db.session.commit()
    elif action == "password" and password_form.validate_on_submit():
        if not services.check_password(current_user, password_form.current.data):
            flash(_("Mot de passe actuel incorrect."), "error")
        else:
            services.set_password(current_user, password_form.new.data)
            db.session.commit()
            login_user(current_user._get_current_object())  # other sessions end, not this one
            flash(_("Mot de passe modifié."), "info")
    tokens = db.session.scalars(select(ApiToken).where(
        ApiToken.user_id == current_user.id, ApiToken.revoked_at.is_(None))).all()
    new_token_expires = max((t.expires_at for t in tokens if t.expires_at), default=None)
    return render_template("accounts/profile.html", token_form=token_form,
                           password_form=password_form, tokens=tokens, new_token=new_token,
                           new_token_expires=new_token_expires if new_token else None)


@bp.post("/compte/jetons/<int:token_id>/revoquer")
@roles_required()
def revoke_token(token_id: int):
    services.revoke_token(current_user, token_id)
    db.session.commit()
    flash(_("Jeton révoqué."), "info")
    return redirect(url_for("accounts.profile"))


# --- admin ------------------------------------------------------------------------------

@bp.route("/admin/organisations", methods=["GET", "POST"])
@roles_required("admin")
def admin_organisations():
    form = OrganisationForm()
    cpts = db.session.scalars(select(Organisation).where(Organisation.kind == "cpts")).all()
    form.cpts_id.choices = [(0, "—")] + [(o.id, o.name) for o in cpts]
    status = 200
    if form.validate_on_submit():
        services.create_organisation(form.name.data, form.kind.data, form.cpts_id.data or None,
                                     form.finess.data)
        db.session.commit()
        flash(_("Organisation créée."), "info")
        return redirect(url_for("accounts.admin_organisations"))
    elif request.method == "POST":
        status = 400
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.name)).all()
    return render_template("accounts/organisations.html", form=form, orgs=orgs), status


@bp.route("/admin/utilisateurs", methods=["GET", "POST"])
@roles_required("admin")
def admin_users():
    form = UserForm()
    orgs = db.session.scalars(select(Organisation).order_by(Organisation.name)).all()
    form.organisation_id.choices = [(o.id, o.name) for o in orgs]
    created_password = None
    status = 200
    if form.validate_on_submit():
        org = services.find_organisation(form.organisation_id.data)
        user, created_password = services.create_user(form.email.data, form.name.data,
                                                      form.role.data, org)
        db.session.commit()
        flash(_("Compte créé pour %(email)s.", email=user.email), "info")
    elif request.method == "POST":
        status = 400
    users = db.session.scalars(select(User).order_by(User.email)).all()
    return render_template("accounts/users.html", form=form, users=users,
                           created_password=created_password), status


@bp.post("/admin/utilisateurs/<int:user_id>/activer")
@roles_required("admin")
def toggle_user(user_id: int):
    user = db.session.get(User, user_id)
    if user is None:
        from flask import abort

        abort(404)
    if user.id == current_user.id:
        flash(_("Vous ne pouvez pas désactiver votre propre compte."), "error")
    else:
        user.active = not user.active
        services.end_sessions(user)
        db.session.commit()
    return redirect(url_for("accounts.admin_users"))


@bp.get("/admin/journal")
@roles_required("admin")
def audit_log():
    entries = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())
                                 .limit(500)).all()
    return render_template("accounts/audit.html", entries=entries)
