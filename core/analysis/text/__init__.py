"""The builders of LaTeX and Markdown: notation, equations and sentences with the numbers of a run filled in.
Nothing here computes a number."""
