from flowfleet.devserver import is_healthy


def test_server_fixture_answers_health(prefect_server):
    assert is_healthy(prefect_server.api_url)
