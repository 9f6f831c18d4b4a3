"""The origin courses' questions, each answered by an experiment."""
