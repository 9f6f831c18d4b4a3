"""Every number of one forward and backward pass, the hand gradient next to autograd's, gradient flow, and what the
Playground draws."""
