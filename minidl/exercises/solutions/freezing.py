"""Reference solution of lessons/exercises/freezing.py."""
from minidl import Function


class Linear(Function):
    def forward(self, x, w, b):
        self.w = w
        self.x = x if self.needs_input_grad[1] else None
        return x @ w.T + b

    def backward(self, g):
        need = self.needs_input_grad
        return (g @ self.w if need[0] else None, g.T @ self.x if need[1] else None,
                g.sum(axis=0) if need[2] else None)
