"""The list of the app's views, kept once: the entrypoint's navigation and the Home page read it."""

from dataclasses import dataclass


@dataclass(frozen=True)
class View:
    path: str  # the page script, relative to app/main.py
    title: str
    icon: str
    url_path: str  # the address of the page: /playground, /forward, …
    blurb: str  # what the view teaches, for the Home page


VIEWS = [
    View(
        "../pages/playground.py",
        "Playground",
        ":material/tune:",
        "playground",
        "Train an MLP live on 2-D toy data, digits or your own CSV. Play, pause, step one mini-batch or one epoch, "
        "reset to the same initial weights; watch the loss curves and the decision boundary move.",
    ),
    View(
        "../pages/forward.py",
        "Forward pass",
        ":material/arrow_forward:",
        "forward",
        "Follow one sample through the network: z = W a + b, batch norm and a = f(z) at every layer, the softmax "
        "probabilities and the loss, with the equations written out in numbers.",
    ),
    View(
        "../pages/backward.py",
        "Backward pass",
        ":material/arrow_back:",
        "backward",
        "δ = ∂L/∂z at every layer, ∂L/∂W as heatmaps, the chain rule for one weight, the hand gradient against "
        "PyTorch autograd, and vanishing gradients in deep sigmoid nets.",
    ),
    View(
        "../pages/jacobians.py",
        "Jacobians",
        ":material/grid_on:",
        "jacobians",
        "The Jacobian of every module three ways (formula, autograd, finite differences), why backward never builds "
        "it, and the input-output Jacobian of the whole net with its singular values.",
    ),
    View(
        "../pages/batchnorm.py",
        "Batch norm",
        ":material/equalizer:",
        "batch-norm",
        "Activation histograms of every layer with and without batch norm, dead and saturated units, convergence "
        "and learning-rate sensitivity, and the course's batch-norm experiment in one click.",
    ),
    View(
        "../pages/saddle.py",
        "Saddle points",
        ":material/landscape:",
        "saddle-points",
        "Optimizers on 2-D surfaces with saddles, the Hessian's eigenvalues along the way, and why random critical "
        "points in many dimensions are almost never minima.",
    ),
    View(
        "../pages/hessian.py",
        "Hessian spectrum",
        ":material/ssid_chart:",
        "hessian",
        "The curvature of a real network's loss: top eigenvalues by Lanczos, the trace, the eigenvalue density, the "
        "loss surface along the top eigenvectors, and how the spectrum changes during training.",
    ),
    View(
        "../pages/backends.py",
        "NumPy vs PyTorch",
        ":material/compare_arrows:",
        "backends",
        "The same network from the same weights in NumPy and in PyTorch: loss curves, gradient differences in "
        "float32 and float64, time per epoch and memory.",
    ),
    View(
        "../pages/checkpointing.py",
        "Checkpointing",
        ":material/memory:",
        "checkpointing",
        "Peak activation memory and time per step against depth, with and without √n gradient checkpointing, "
        "measured live.",
    ),
    View(
        "../pages/course.py",
        "Course questions",
        ":material/school:",
        "course",
        "The questions of the two origin courses, each answered by an experiment you run with one click.",
    ),
]
