from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, SelectField, SelectMultipleField, StringField
from wtforms.validators import DataRequired, Length, Optional

from agenda import labels


class LoginForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired()])
    password = PasswordField(_l("Mot de passe"), validators=[DataRequired()])


class OrganisationForm(FlaskForm):
    name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=200)])
    kind = SelectField(_l("Type"), choices=list(labels.ORG_KIND.items()))
    cpts_id = SelectField(_l("CPTS qui l'administre"), coerce=int, validators=[Optional()])
    serves = SelectMultipleField(_l("CPTS servies (réservation)"), coerce=int,
                                 validators=[Optional()])
    finess = StringField(_l("FINESS"), validators=[Optional(), Length(max=9)])


class UserForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired()])
    name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=200)])
    role = SelectField(_l("Rôle"), choices=list(labels.ROLE.items()))
    organisation_id = SelectField(_l("Organisation"), coerce=int)


class TokenForm(FlaskForm):
    name = StringField(_l("Nom du jeton"), validators=[DataRequired(), Length(max=100)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Mot de passe actuel"), validators=[DataRequired()])
    new = PasswordField(_l("Nouveau mot de passe (10 caractères au moins)"),
                        validators=[DataRequired()])


class ForgotPasswordForm(FlaskForm):
    email = EmailField(_l("Adresse e-mail"), validators=[DataRequired()])


class ResetPasswordForm(FlaskForm):
    password = PasswordField(_l("Nouveau mot de passe (10 caractères au moins)"),
                             validators=[DataRequired()])
