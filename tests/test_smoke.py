def test_health(client):
    resp = client.get("/health")
    assert resp.status_code == 200
    assert resp.get_json()["status"] == "ok"


def test_dashboard_per_role(login_as):
    for role, title in [("secretary", "Espace télésecrétariat"), ("coordinator", "Espace coordination CPTS")]:
        c = login_as(role)
        html = c.get("/").get_data(as_text=True)
        assert title in html
