"""The app configuration's URL round trip, and hostile query values."""

from dataclasses import replace

import pytest

from core.links import DEFAULTS, AppConfig, from_query, to_query


def test_round_trip_reopens_the_same_config():
    config = replace(DEFAULTS, dataset="spiral", depth=3, width=16, activation="relu", lr=0.05, seed=7, backend="torch")
    again, notices = from_query(to_query(config))
    assert again == config and notices == []


def test_defaults_make_an_empty_query():
    assert to_query(AppConfig()) == {}


@pytest.mark.parametrize(
    "key, value",
    [
        ("lr", "abc"),
        ("lr", "nan"),
        ("lr", "inf"),
        ("lr", "-1"),
        ("depth", "99"),
        ("width", "0"),
        ("dataset", "<script>"),
        ("activation", "swish"),
        ("batch_size", "1e9"),
        ("seed", "-3"),
        ("noise", "5"),
        ("epochs", "2.5"),
        ("lr", "9" * 400),
    ],
)
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


def test_learning_rates_are_offered_on_a_log_scale_with_a_links_value_added():
    from core.links import LR_STEPS, lr_options

    assert list(LR_STEPS) == sorted(LR_STEPS) and LR_STEPS[0] == 1e-4 and LR_STEPS[-1] == 10.0
    ratios = [b / a for a, b in zip(LR_STEPS, LR_STEPS[1:])]
    assert all(1.1 < r <= 2.5 for r in ratios)  # 1-2-3-5 steps: evenly spread on a log axis
    assert {0.001, 0.01, 0.1, 1.0} <= set(LR_STEPS)
    assert lr_options(0.07) == sorted([*LR_STEPS, 0.07]) and lr_options(0.3) == list(LR_STEPS)


def test_choosing_an_optimizer_sets_its_learning_rate_unless_the_user_chose_one():
    from core.links import DEFAULT_LR
    from tests.page_testing import open_app

    at = open_app()
    assert at.sidebar.select_slider(key="w_lr").value == DEFAULT_LR["sgd"] == 0.3
    at.sidebar.selectbox(key="w_optimizer").set_value("adam").run()
    assert at.sidebar.select_slider(key="w_lr").value == DEFAULT_LR["adam"] == 0.01
    assert at.query_params["optimizer"] == "adam" and at.query_params["lr"] == "0.01"
    at.sidebar.selectbox(key="w_optimizer").set_value("momentum").run()
    assert at.sidebar.select_slider(key="w_lr").value == DEFAULT_LR["momentum"]

    chosen = open_app()
    chosen.sidebar.select_slider(key="w_lr").set_value(0.05).run()  # the user's own choice is kept
    chosen.sidebar.selectbox(key="w_optimizer").set_value("adam").run()
    assert chosen.sidebar.select_slider(key="w_lr").value == 0.05


def test_a_links_learning_rate_is_kept_when_the_optimizer_changes():
    from tests.page_testing import open_app

    at = open_app(lr="0.07")
    assert at.sidebar.select_slider(key="w_lr").value == 0.07 and "0.07" in at.sidebar.select_slider(key="w_lr").options
    at.sidebar.selectbox(key="w_optimizer").set_value("adam").run()
    assert at.sidebar.select_slider(key="w_lr").value == 0.07 and at.session_state["config"].lr == 0.07
