from keel.settings import persistent_secret_key


def test_a_secret_key_is_made_once_per_data_folder_and_then_reused(tmp_path):
    path = tmp_path / "secret_key"
    first = persistent_secret_key(path)
    assert len(first) >= 50
    assert persistent_secret_key(path) == first
    assert persistent_secret_key(tmp_path / "other_key") != first
    assert oct(path.stat().st_mode & 0o777) == "0o600"
