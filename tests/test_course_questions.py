"""The course questions: each answer's key figure checked against an independent computation, and its text written
from the numbers measured (so a change in the experiment changes the text)."""

from functools import cache

import numpy as np
import pytest

from app.views import VIEWS
from core.analysis.backend_compare import compare_backends
from core.analysis.batchnorm.experiments import COURSE_RECIPE, course_experiment
from core.analysis.batchnorm.study import health_summary, paired_runs
from core.analysis.course import batchnorm as cb
from core.analysis.course import checkpointing as ck
from core.analysis.course import curvature as cc
from core.analysis.course.catalog import QUESTIONS
from core.analysis.course.questions import CourseError, pct
from core.data import load_dataset
from core.links import from_query
from core.nn.gradcheck import numerical_jacobian
from core.nn.mlp import MLP
from core.threads import one_thread
from core.training.backends import initial_weights
from core.training.config import n_parameters
from core.training.trainer import Trainer

DIGITS = load_dataset("digits")


@cache
def answer(number):
    """Question ``number`` answered once per test session, as the page runs it: through the catalog, on the digits."""
    return QUESTIONS[number].run(DIGITS, None)


def test_numpy_recipe_reports_the_trainers_own_test_accuracy():
    a = answer(1)
    trainer = Trainer(DIGITS, COURSE_RECIPE)
    with one_thread():
        for _ in trainer.epochs():
            pass
        test = trainer.test_metrics()
    assert a.figures["test_accuracy"] == test["test_accuracy"] > 0.9 and a.figures["best_epoch"] == test["best_epoch"]
    assert a.frame.equals(trainer.history())
    assert f"**{pct(test['test_accuracy'], 2)}**" in a.answer and f"({test['best_epoch']})" in a.answer
    assert f"**{a.figures['last_train_loss']:.3f}**" in a.answer and "47 %–48 % is for CIFAR-10" in a.answer
    # the Playground link trains exactly this run
    playground = from_query(a.links[0].query)[0]
    assert playground.dataset == "digits" and playground.train_config().replace(track_grad_norms=False) == COURSE_RECIPE


def test_pytorch_twin_agrees_to_round_off_in_float64_and_not_in_float32():
    a = answer(2)
    f = a.figures
    assert f["max_loss_diff_float64"] < 1e-10 and f["max_weight_diff_float64"] < 1e-10
    assert 1e-9 < f["max_loss_diff_float32"] < 1e-4 and f["max_weight_diff_float32"] > 1e-9
    with one_thread():
        again = compare_backends(DIGITS, COURSE_RECIPE.replace(dtype="float32"), f["steps"])
    assert f["max_loss_diff_float32"] == again.loss_diffs["abs_diff"].max()
    assert f["steps"] == 100 and set(a.frame["dtype"]) == {"float32", "float64"} and len(a.frame) == 200
    assert f"**{f['max_loss_diff_float64']:.1e} in float64**" in a.answer
    assert f"**{f['max_loss_diff_float32']:.1e} in float32**" in a.answer


def test_every_hessian_eigenvalue_at_the_trained_minimum_is_nonnegative():
    a = answer(3)
    f = a.figures
    net = a.frame[(a.frame["subject"] == "network")]
    at_min = net[net["point"] == "trained minimum"]["eigenvalue"].to_numpy()
    assert len(at_min) == f["parameters"] == 22 and f["grad_norm"] < 1e-8
    assert at_min.min() >= -1e-6 * at_min.max() and f["negative"] == 0
    assert f["negative_initial"] > 0 and f["smallest_initial"] < 0  # the initial weights are not a minimum
    assert f["surface_min"] == (2.0, 8.0) and f["surface_saddle"] == (-4.0, 2.0)
    assert f["near_l2"] >= f["softmax_shifts"] == 5  # the softmax's flat directions: curved by the L2 term only
    assert f"**{f['smallest']:.3g}**" in a.answer and f"{f['negative_initial']} of the 22 were negative" in a.answer


def test_the_minimums_hessian_equals_central_differences_of_the_hand_derived_gradient():
    """Independent of torch: ∇²J by central differences of the NumPy MLP's gradient ∇J at the same minimum."""
    net, l2 = cc.HESSIAN_NET, answer(3).figures["l2"]
    data = load_dataset(net["dataset"], n_samples=net["n_samples"], noise=net["noise"], seed=net["seed"])
    X, y = data.X_train, data.y_train
    minimum, _, _ = cc.minimize_loss(initial_weights(2, net["hidden"], 2, net["seed"]), net["activation"], X, y, l2)
    mlp = MLP.from_weights(minimum, net["activation"])
    names = [name for name, _, _ in mlp.named_parameters()]
    sizes = [minimum[n].size for n in names]

    def grad_J(theta):  # (P,) → (P,)
        parts = np.split(theta, np.cumsum(sizes)[:-1])
        mlp.set_weights({n: p.reshape(minimum[n].shape) for n, p in zip(names, parts)})
        mlp.loss_and_backward(X, y)
        return np.concatenate([mlp.get_grads()[n].ravel() for n in names]) + l2 * theta

    H = numerical_jacobian(grad_J, np.concatenate([minimum[n].ravel() for n in names]))  # (P, P)
    assert np.abs(H - H.T).max() < 1e-6
    shown = answer(3).frame.query("point == 'trained minimum'")["eigenvalue"].to_numpy()
    assert np.allclose(np.linalg.eigvalsh((H + H.T) / 2), shown, rtol=0, atol=1e-6)


def test_coin_flip_fraction_falls_faster_than_two_to_the_minus_d():
    a = answer(4)
    f, frame = a.figures, a.frame
    assert abs(f["fraction_1"] - 0.5) < 0.01  # one eigenvalue: a fair coin
    assert 0.12 < f["fraction_2"] < 0.18 < 0.25  # two repel: rarer than 2⁻²
    found = frame[frame["positive"] > 0]
    assert (np.diff(found["fraction"]) < 0).all() and (found["fraction"] < found["coin_flip"]).iloc[1:].all()
    assert 5 <= f["last_d"] <= 8 and frame.loc[frame["d"] > f["last_d"], "positive"].eq(0).all()
    assert f"**{f['fraction_2']:.3f}** at d = 2" in a.answer and f"{f['count_last']:,} in 200,000" in a.answer


def test_gradient_descent_near_the_saddle_multiplies_by_one_minus_eta_lambda():
    a = answer(5)
    f = a.figures
    assert f["eigenvalues"] == (-4.0, 2.0) and f["factors"] == pytest.approx((1.2, 0.9), abs=1e-15)
    assert f["actual_step"] == pytest.approx(f["predicted_step"], rel=1e-9)  # x⁴ adds only ~x³ near the saddle
    steps, predicted = np.array(f["escape_steps"]), np.array(f["predicted_steps"])
    assert (np.abs(steps - predicted) <= 2).all() and (np.diff(steps) > 0).all()
    assert f["steps_per_decade"] == pytest.approx(np.log(10) / np.log(1.2), abs=0.5)
    shown = a.frame[a.frame["direction"].str.startswith("v₂")]
    assert np.allclose(shown["measured"], shown["predicted"], rtol=1e-12)  # y shrinks by exactly 0.9 per step
    assert f"1e-08: {steps[-1]} steps (predicted {predicted[-1]})" in a.answer
    assert "|1 − ηλ| = 1.2 > 1" in a.answer and "|1 − ηλ| = 0.9 < 1" in a.answer


def test_gamma_beta_sums_equal_autograd_and_finite_differences():
    a = answer(6)
    f = a.figures
    assert f["dbeta_sum"] == pytest.approx(f["dbeta_autograd"], rel=0, abs=1e-14)
    assert f["dgamma_sum"] == pytest.approx(f["dgamma_autograd"], rel=0, abs=1e-14)
    assert f["dbeta_sum"] == pytest.approx(f["dbeta_backward"], rel=0, abs=1e-15)
    assert f["fd_diff"] < 1e-7 * max(abs(f["dbeta_sum"]), abs(f["dgamma_sum"]))
    ends = a.frame.groupby("gradient")["running_sum"].last()
    assert ends["∂L/∂β"] == pytest.approx(f["dbeta_sum"], abs=1e-15) and len(a.frame) == 2 * 128
    assert f"∂L/∂β = Σₙ ∂L/∂yₙ = {f['dbeta_sum']:.10g}**" in a.answer and len(a.latex) == 2


def test_batch_norm_adds_two_parameters_and_two_buffers_per_unit():
    a = answer(7)
    f = a.figures
    assert (f["per_unit_trained"], f["per_unit_buffers"], f["torch_extra_buffer"]) == (2, 2, 1)
    assert f["torch_trained"] == f["bn_trained"] == 256 and f["torch_buffers"] == 257
    assert f["net_without"] == n_parameters(64, (128,), 10) and f["net_with"] == n_parameters(64, (128,), 10, True)
    assert f["added"] == 128
    assert "**+128**, not +256" in a.answer and f"{f['net_with']:,} with it" in a.answer
    wide = cb.bn_parameters(n_inputs=3, hidden_dims=(5,), n_classes=2).figures
    assert (wide["bn_trained"], wide["bn_buffers"], wide["added"], wide["net_without"]) == (10, 10, 5, 32)


def test_eval_mode_output_does_not_depend_on_the_batch():
    a = answer(8)
    f = a.figures
    assert f["train_gap"] > 1e-3 and f["eval_gap"] < 1e-12 and f["prob_diff_eval"] < 1e-12
    assert f["flips_train"] > 0.01 and f["flips_eval"] == 0.0
    values = a.frame.pivot_table(index="unit", columns=["mode", "batch"], values="value")
    assert np.allclose(values["eval", "A"], values["eval", "alone"], rtol=0, atol=1e-12)
    assert f"**{pct(f['flips_train'])} change their predicted class**" in a.answer
    assert (
        f"up to **{f['train_gap']:.3g}**" in a.answer and f"Split the {f['validation']} validation images" in a.answer
    )
    train = values["train"]
    assert len(values) == 8 and np.isclose((train["A"] - train["B"]).abs().max(), f["train_gap"])  # the gap is shown


def test_dead_relus_at_a_high_learning_rate_without_and_with_batch_norm():
    a = answer(9)
    f = a.figures
    assert f["dead_without"] >= 0.5 > 0.1 >= f["dead_with"] and f["start_without"] == f["start_with"]
    assert f["val_with"] > f["val_without"]
    assert f"**{pct(f['dead_without'], 0)}**" in a.answer and f"(hidden {f['layer_without']})" in a.answer
    with pytest.raises(CourseError, match="tanh units cannot die"):
        cb.dead_relus(DIGITS, cb.DEEP_RELU.replace(activation="tanh", epochs=1))


def test_batch_norm_keeps_the_inputs_of_tanh_units_out_of_saturation():
    a = answer(10)
    f = a.figures
    with one_thread():
        pair = paired_runs(DIGITS, cb.DEEP_TANH)
    m = pair.moments.set_index(["run", "epoch", "layer", "quantity"])["std"]
    for run, key in (("without BN", "std_without"), ("with BN", "std_with")):
        assert f[key] == m[run, 3, 3, "pre-activation"]  # the last hidden layer at the last epoch
    top = health_summary(pair.health).set_index(["measure", "run"])["fraction"]
    assert (f["unhealthy_without"], f["unhealthy_with"]) == (
        top["saturated values", "without BN"],
        top["saturated values", "with BN"],
    )
    assert f["measure"] == "saturated values" and f["unhealthy_without"] > 4 * f["unhealthy_with"]
    assert f["std_with"] < f["std_without"]
    shares = a.frame.groupby(["run", "epoch", "layer", "quantity"])["share"].sum()
    assert np.allclose(shares, 1.0) and a.frame["epoch"].max() == f["epoch"] == 3
    assert f"**{f['mean_without']:.3g} ± {f['std_without']:.3g} without batch norm**" in a.answer


def test_course_network_with_batch_norm_reports_both_test_accuracies():
    a = answer(11)
    with one_thread():
        test = course_experiment(DIGITS).test.set_index("run")["test_accuracy"]
    assert a.figures["test_without"] == test["without BN"] == answer(1).figures["test_accuracy"]
    assert a.figures["test_with"] == test["with BN"]
    assert f"**{pct(test['with BN'], 2)} with it**" in a.answer
    assert f"({100 * (test['with BN'] - test['without BN']):+.2f} percentage points)" in a.answer


def test_checkpointed_memory_grows_like_the_square_root_of_depth():
    a = answer(12)
    f = a.figures
    assert 0.8 < f["slope_plain"] < 1.1 and 0.3 < f["slope_sqrt"] < 0.6 and f["slope_sqrt"] < f["slope_plain"]
    assert f["mb_sqrt"] < f["mb_plain"] / 4 and f["k"] == 9 and f["time_ratio"] > 0
    assert f"**n^{f['slope_plain']:.2f}**" in a.answer and f"**n^{f['slope_sqrt']:.2f}**" in a.answer


def test_every_answer_has_its_question_and_links_that_open_existing_views_preset():
    views = {v.url_path for v in VIEWS}
    for number in QUESTIONS:
        a = answer(number)
        assert a.number == number and a.links  # the catalog runs each question's own experiment and len(a.frame)
        for link in a.links:
            assert link.view in views and link.label
            config, notices = from_query(link.query)
            assert not notices, (number, notices)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: cc.hessian_at_minimum(l2=0), "the L2 coefficient must be in"),
        (lambda: cc.coin_flip(max_dim=2), "the largest dimension must be"),
        (lambda: cc.saddle_escape(lr=0.6), "the learning rate must be in"),
        (lambda: cc.saddle_escape(shown=0.3), "offsets must lie in"),
        (lambda: cc.saddle_escape(steps=20), "did not escape within 20 steps"),
        (lambda: ck.checkpoint_savings(depths=(8,)), "at least two depths"),
        (lambda: cb.bn_inference(DIGITS, batch_size=1), "the batch size must be from 2"),
    ],
)
def test_bad_settings_are_refused_in_one_line(call, message):
    with pytest.raises(CourseError, match=message) as info:
        call()
    assert "\n" not in str(info.value)
