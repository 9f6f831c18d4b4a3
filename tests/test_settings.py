"""The app configuration's URL round trip, and hostile query values."""

from dataclasses import replace

import pytest

from app.settings import DEFAULTS, AppConfig, from_query, to_query


def test_round_trip_reopens_the_same_config():
    config = replace(DEFAULTS, dataset="spiral", depth=3, width=16, activation="relu", lr=0.05, seed=7, backend="torch")
    again, notices = from_query(to_query(config))
    assert again == config and notices == []


def test_defaults_make_an_empty_query():
    assert to_query(AppConfig()) == {}


@pytest.mark.parametrize(
    "key, value",
    [("lr", "abc"), ("lr", "nan"), ("lr", "inf"), ("lr", "-1"), ("depth", "99"), ("width", "0"),
     ("dataset", "<script>"), ("activation", "swish"), ("batch_size", "1e9"), ("seed", "-3"),
     ("noise", "5"), ("epochs", "2.5"), ("lr", "9" * 400)],
)  # fmt: skip
def test_hostile_values_fall_back_to_defaults_with_a_notice(key, value):
    config, notices = from_query({key: value, "width": "16"} if key != "width" else {key: value})
    assert getattr(config, key) == getattr(DEFAULTS, key)
    assert len(notices) == 1 and key in notices[0] and "using" in notices[0]
    if key != "width":
        assert config.width == 16  # the good value next to it is kept


def test_unknown_parameters_are_ignored():
    config, notices = from_query({"utm_source": "x", "present": "1"})
    assert config == DEFAULTS and notices == []


def test_train_config_matches():
    tc = replace(DEFAULTS, depth=0).train_config()
    assert tc.hidden_dims == () and tc.track_grad_norms
