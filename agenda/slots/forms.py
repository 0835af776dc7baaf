"""Forms of the slot pages (the doctor's week, the charter settings)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (BooleanField, DateField, HiddenField, IntegerField, RadioField, SelectField,
                     StringField, TimeField)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

MODE_CHOICES = [("AMB", _l("Au cabinet")), ("VR", _l("Téléconsultation")),
                ("HH", _l("Visite à domicile"))]
MODE_LABELS = dict(MODE_CHOICES)
POLICY_CHOICES = [("warn", _l("Avertir le médecin")), ("refuse", _l("Refuser"))]


class SlotForm(FlaskForm):
    kind = RadioField(_l("Type de créneau"), default="fixed", choices=[
        ("fixed", _l("Fixe (heure précise)")),
        ("floating", _l("Flottant (plage, heure fixée à l'acceptation)"))])
    day = DateField(_l("Jour"), validators=[InputRequired(message=_l("Indiquez le jour."))])
    start = TimeField(_l("Début"), validators=[InputRequired(message=_l("Indiquez l'heure."))])
    end = TimeField(_l("Fin"), validators=[Optional()])
    mode = SelectField(_l("Mode de consultation"), choices=MODE_CHOICES, default="AMB")
    capacity = IntegerField(_l("Nombre de patients (plage flottante)"), default=1,
                            validators=[Optional(), NumberRange(min=1, max=20)])
    # A doctor with several places chooses one (choices set by the view; 0: the main one).
    place_id = SelectField(_l("Lieu de consultation"), coerce=int, default=0,
                           validate_choice=False)


class WithdrawForm(FlaskForm):
    reason = StringField(_l("Motif (facultatif)"), validators=[Optional(), Length(max=300)])


class CopyForm(FlaskForm):
    target = HiddenField(validators=[DataRequired()])


class CharterForm(FlaskForm):
    min_per_week = IntegerField(_l("Minimum de consultations SNP par médecin et par semaine"),
                                validators=[InputRequired(), NumberRange(min=0, max=50)])
    max_per_week = IntegerField(_l("Maximum de consultations SNP par médecin et par semaine"),
                                validators=[InputRequired(), NumberRange(min=1, max=50)])
    default_length_min = IntegerField(_l("Durée d'un créneau fixe (minutes)"),
                                      validators=[InputRequired(), NumberRange(min=5, max=180)])
    horizon_hours = SelectField(_l("Horizon de réservation"), coerce=int, choices=[
        (0, _l("Le jour même, jusqu'à l'heure ci-dessous")), (12, _l("12 heures")),
        (24, _l("24 heures")), (48, _l("48 heures")),
        (72, _l("72 heures")), (168, _l("7 jours"))])
    same_day_until = StringField(_l("Le jour même : jusqu'à (hh:mm)"),
                                 validators=[Optional(), Length(max=5)])
    weekday_start = StringField(_l("Publication en semaine : début (hh:mm)"),
                                validators=[DataRequired(), Length(max=5)])
    weekday_end = StringField(_l("Publication en semaine : fin (hh:mm)"),
                              validators=[DataRequired(), Length(max=5)])
    saturday_morning = BooleanField(_l("Ouvrir le samedi matin"))
    saturday_end = StringField(_l("Samedi : fin (hh:mm)"),
                               validators=[DataRequired(), Length(max=5)])
    hours_policy = SelectField(_l("Créneau hors des heures de publication"),
                               choices=POLICY_CHOICES)
    holidays_policy = SelectField(_l("Créneau un jour férié"), choices=POLICY_CHOICES)
