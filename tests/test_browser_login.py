"""The login page and the dashboard in a real browser, at phone size."""

from tests.conftest import browser_login


def test_login_in_chromium_at_phone_size(phone_page, make_user):
    user, password = make_user("coordinator")
    browser_login(phone_page, user.email, "mauvais-mot-de-passe")
    assert "Adresse e-mail ou mot de passe incorrect." in phone_page.content()
    browser_login(phone_page, user.email, password)
    assert phone_page.get_by_role("heading", name="Espace coordination CPTS").is_visible()
    # No horizontal scrolling on a phone.
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390
