"""Home: what each view teaches, with links."""

import streamlit as st

from app.controls import config_summary, sidebar

config = sidebar()

st.title("MLP Backprop Lab")
st.markdown(
    "Watch a multi-layer perceptron learn, **with the real numbers**: every activation, every "
    "gradient, the hand-derived NumPy backward next to PyTorch's autograd. Pick a view; the "
    "network and data set in the sidebar follow you from view to view, and the address bar "
    "always holds a link that reopens exactly this setup."
)
st.caption(f"Current setup: {config_summary(config)}")

views = [
    ("../pages/playground.py", "Playground", ":material/tune:",
     "Train an MLP live on 2-D toy data or digits. Play, pause, step one mini-batch or one epoch, reset to the "
     "same initial weights; watch the loss curves and the decision boundary move."),
    ("../pages/forward.py", "Forward pass", ":material/arrow_forward:",
     "Follow one sample through the network: z = W a + b and a = f(z) at every layer, the softmax "
     "probabilities and the loss, with the equations written out in numbers."),
    ("../pages/backward.py", "Backward pass", ":material/arrow_back:",
     "δ = ∂L/∂z at every layer, ∂L/∂W as heatmaps, the chain rule for one weight, the hand gradient "
     "against PyTorch autograd, and vanishing gradients in deep sigmoid nets."),
]  # fmt: skip
for path, title, icon, text in views:
    with st.container(border=True):
        st.page_link(path, label=f"**{title}**", icon=icon)
        st.write(text)

st.caption(
    "Everything runs on the CPU with the embedded data: no download, no GPU. "
    "Projector mode (sidebar) enlarges text and charts for a lecture hall."
)
