def test_stylesheet_and_script_are_served(client):
    assert client.get("/static/keel/keel.css").status_code == 200
    assert client.get("/static/keel/keel.js").status_code == 200
