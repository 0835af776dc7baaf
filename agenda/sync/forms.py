"""Forms of the calendar settings page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, SelectMultipleField, StringField, URLField
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget


class MultiCheckboxField(SelectMultipleField):
    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class ConnectionForm(FlaskForm):
    url = URLField(_l("Adresse du serveur CalDAV"),
                   validators=[DataRequired(), Length(max=500)])
    username = StringField(_l("Identifiant"), validators=[DataRequired(), Length(max=200)])
    password = PasswordField(_l("Mot de passe d'application"),
                             validators=[Optional(), Length(max=500)])


class CalendarChoiceForm(FlaskForm):
    calendar = RadioField(_l("Calendrier des créneaux SNP"), choices=[],
                          validators=[DataRequired()], validate_choice=False)
    busy = MultiCheckboxField(_l("Agenda principal, lu pour ses seules heures occupées "
                                 "(facultatif)"), choices=[], validate_choice=False)


class MainCalendarForm(FlaskForm):
    main_url = URLField(_l("Adresse du calendrier principal (même compte)"),
                        validators=[Optional(), Length(max=500)])
