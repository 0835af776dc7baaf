"""Form of the CPTS's SAS page."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectMultipleField, StringField, widgets
from wtforms.validators import Length, Optional


class CptsSasForm(FlaskForm):
    finess = StringField(_l("FINESS (9 chiffres)"), validators=[Optional(), Length(max=12)])
    siret = StringField(_l("SIRET (14 chiffres)"), validators=[Optional(), Length(max=20)])
    phone = StringField(_l("Téléphone de la CPTS"), validators=[Optional(), Length(max=30)])
    visibility = SelectMultipleField(
        _l("Créneaux visibles aussi par"),
        choices=[("SNP", _l("les régulateurs et organisateurs de soins non programmés (SNP)")),
                 ("PRO", _l("les professionnels de santé (PRO)")),
                 ("PUBLIC", _l("le grand public (PUBLIC)"))],
        option_widget=widgets.CheckboxInput(), widget=widgets.ListWidget(prefix_label=False))
