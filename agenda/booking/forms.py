"""Forms of the booking pages (French labels; the services do the real checks)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, Form, HiddenField, IntegerField, SelectField,
                     StringField, TextAreaField)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

MOBILITY_CHOICES = [("mobile", _l("Se déplace au cabinet")), ("tele", _l("Téléconsultation")),
                    ("home", _l("Visite à domicile"))]
MODE_CHOICES = [("", _l("Tous les modes")), ("AMB", _l("Au cabinet")),
                ("VR", _l("Téléconsultation")), ("HH", _l("Visite à domicile"))]
HORIZON_CHOICES = [("", _l("Charte"))]
ORDER_CHOICES = [("earliest", _l("Le plus tôt")), ("nearest", _l("Le plus proche"))]
SMS_CONSENT_LABEL = _l("Le patient accepte un SMS de confirmation et de rappel, avec un lien "
                       "pour annuler (numéro de portable)")
OUTCOME_CHOICES = [("seen", _l("Vu")), ("no_show", _l("Non venu")), ("cancelled", _l("Annulé"))]


class PatientForm(FlaskForm):
    """The minimal patient record (and the reason and note of the booking)."""

    last_name = StringField(_l("Nom"), validators=[DataRequired(), Length(max=100)])
    first_name = StringField(_l("Prénom"), validators=[DataRequired(), Length(max=100)])
    birth_date = DateField(_l("Date de naissance"), validators=[Optional()])
    phone = StringField(_l("Téléphone"), validators=[Optional(), Length(max=30)])
    sms_consent = BooleanField(SMS_CONSENT_LABEL)
    commune = StringField(_l("Commune (nom ou code postal)"),
                          validators=[DataRequired(), Length(max=200)])
    # The commune chosen among the suggestions or the candidates (its INSEE code).
    commune_insee = HiddenField()
    treating = SelectField(_l("Médecin traitant"), default="unknown")
    treating_external_name = StringField(_l("Nom du médecin traitant (hors territoire)"),
                                         validators=[Optional(), Length(max=200)])
    treating_external_rpps = StringField(_l("RPPS du médecin traitant (hors territoire)"),
                                         validators=[Optional(), Length(max=11)])
    reason = SelectField(_l("Motif (protocole CPTS)"), coerce=int, default=0)
    mobility = SelectField(_l("Mode de consultation"), choices=MOBILITY_CHOICES,
                           default="mobile")
    note = TextAreaField(_l("Note libre"), validators=[Optional(), Length(max=1000)])
    origin = HiddenField(default="web")
    regulation_number = StringField(_l("N° de dossier de régulation (facultatif)"),
                                    validators=[Optional(), Length(max=40)])
    duplicate_reason = StringField(_l("Raison de réserver quand même"),
                                   validators=[Optional(), Length(max=300)])

    PATIENT_FIELDS = ("last_name", "first_name", "birth_date", "phone", "sms_consent",
                      "commune", "commune_insee", "treating", "treating_external_name",
                      "treating_external_rpps", "reason", "mobility", "note", "origin",
                      "regulation_number")


class SearchForm(PatientForm):
    # Choices come from the charters of the CPTS served (views.support.horizon_choices).
    horizon = SelectField(_l("Horizon"), choices=HORIZON_CHOICES, default="")
    mode = SelectField(_l("Filtrer par mode"), choices=MODE_CHOICES, default="",
                       validators=[Optional()])
    day = DateField(_l("Jour"), validators=[Optional()])
    sector = SelectField(_l("Secteur"), coerce=int, default=0)
    order = SelectField(_l("Ordre"), choices=ORDER_CHOICES, default="earliest",
                        validators=[Optional()])

    SEARCH_FIELDS = ("horizon", "mode", "day", "sector", "order")


class EDForm(FlaskForm):
    """The emergency-department page: commune + reason first, identity to book."""

    commune = StringField(_l("Commune du patient (nom ou code postal)"),
                          validators=[DataRequired(), Length(max=200)])
    commune_insee = HiddenField()
    reason = SelectField(_l("Motif"), coerce=int, default=0)
    mobility = SelectField(_l("Mode de consultation"), choices=MOBILITY_CHOICES,
                           default="mobile")
    treating = SelectField(_l("Médecin traitant"), default="unknown")
    last_name = StringField(_l("Nom"), validators=[Optional(), Length(max=100)])
    first_name = StringField(_l("Prénom"), validators=[Optional(), Length(max=100)])
    birth_date = DateField(_l("Date de naissance"), validators=[Optional()])
    phone = StringField(_l("Téléphone"), validators=[Optional(), Length(max=30)])
    sms_consent = BooleanField(SMS_CONSENT_LABEL)
    note = TextAreaField(_l("Note pour le médecin"), validators=[Optional(), Length(max=1000)])
    duplicate_reason = StringField(_l("Raison de réserver quand même"),
                                   validators=[Optional(), Length(max=300)])


class CancelForm(FlaskForm):
    reason = StringField(_l("Motif de l'annulation"), validators=[DataRequired(),
                                                                  Length(max=300)])


class OutcomeForm(FlaskForm):
    outcome = SelectField(_l("Issue"), choices=OUTCOME_CHOICES)
    synthesis = TextAreaField(_l("Synthèse pour le médecin traitant (si vu)"),
                              validators=[Optional(), Length(max=4000)])


class SynthesisForm(FlaskForm):
    synthesis = TextAreaField(_l("Synthèse pour le médecin traitant"),
                              validators=[DataRequired(), Length(max=4000)])


class AcceptForm(FlaskForm):
    time = SelectField(_l("Heure de la consultation"))


class ReasonForm(FlaskForm):
    label = StringField(_l("Nouveau motif"), validators=[DataRequired(), Length(max=100)])


class ActionForm(FlaskForm):
    """A button-only form (CSRF token)."""


class QuickCallForm(Form):
    """The dashboard's "Nouvel appel" (rendered only; it posts to the search page, whose
    form checks it). A plain form: the panel is also built outside a request."""

    last_name = StringField(_l("Nom"))
    first_name = StringField(_l("Prénom"))
    commune = StringField(_l("Commune (nom ou code postal)"))
    commune_insee = HiddenField()


class SmsSettingsForm(FlaskForm):
    """The coordinator's text-message settings (charter of the CPTS)."""

    sms_reminder_minutes = IntegerField(_l("Rappel envoyé combien de minutes avant la "
                                           "consultation"),
                                        validators=[DataRequired(), NumberRange(15, 2880)])
    sms_booking_text = TextAreaField(_l("Texte du SMS de confirmation (vide : texte par "
                                        "défaut)"), validators=[Optional(), Length(max=320)])
    sms_reminder_text = TextAreaField(_l("Texte du SMS de rappel (vide : texte par défaut)"),
                                      validators=[Optional(), Length(max=320)])
