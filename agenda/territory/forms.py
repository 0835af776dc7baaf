from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (BooleanField, EmailField, HiddenField, StringField, TelField,
                     TextAreaField)
from wtforms.validators import DataRequired, Length, Optional


class DoctorForm(FlaskForm):
    rpps = StringField(_l("RPPS (11 chiffres)"), validators=[DataRequired(), Length(max=11)])
    first_name = StringField(_l("Prénom"), validators=[DataRequired(), Length(max=100)])
    last_name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=100)])
    email = EmailField(_l("E-mail"), validators=[Optional()])
    phone = TelField(_l("Téléphone"), validators=[Optional(), Length(max=30)])
    address = StringField(_l("Adresse du cabinet"), validators=[Optional(), Length(max=300)])
    commune = StringField(_l("Commune du cabinet (nom ou code postal)"),
                          validators=[DataRequired(), Length(max=120)])
    # The commune chosen among the suggestions or the candidates (its INSEE code).
    commune_insee = HiddenField(validators=[Optional(), Length(max=5)])
    accepts_floating = BooleanField(_l("Accepte les demandes flottantes"), default=True)


class ImportForm(FlaskForm):
    file = FileField(_l("Fichier CSV"), validators=[FileRequired()])


class SectorForm(FlaskForm):
    name = StringField(_l("Nom du secteur"), validators=[DataRequired(), Length(max=100)])
    communes = TextAreaField(_l("Codes INSEE des communes (séparés par des virgules ou des "
                                "retours à la ligne)"), validators=[DataRequired()])
