# Reference numbers for tests/test_optim.c, printed as C initializers.
# Run with Debian's torch: /usr/bin/python3 tests/tools/optim_reference.py
# (PyTorch 1.13, single-tensor CPU path, float32).
import torch

torch.set_printoptions(precision=10)


def grads(t, n):
    # exactly representable in float32; the C test builds the same values
    return torch.tensor([((k * 7 + t * 3) % 11 - 5) / 8.0 for k in range(n)], dtype=torch.float32)


def init(n, off):
    return torch.tensor([(k - off) / 4.0 for k in range(n)], dtype=torch.float32)


def show(name, t):
    print("/* %s */ {%s}," % (name, ", ".join("%.9g" % v for v in t.flatten().tolist())))


# AdamW: w [2,3] decays, b [3] excluded; b has no gradient at step 2.
w = init(6, 2).reshape(2, 3).requires_grad_()
b = init(3, 1).requires_grad_()
opt = torch.optim.AdamW([{"params": [w], "weight_decay": 0.1},
                         {"params": [b], "weight_decay": 0.0}], lr=0.01, betas=(0.9, 0.999), eps=1e-8)
for t in range(3):
    w.grad = grads(t, 6).reshape(2, 3)
    b.grad = None if t == 1 else grads(t + 5, 3)
    opt.step()
show("adamw w", w.detach())
show("adamw b", b.detach())

# SGD, Nesterov: lr 0.1, momentum 0.9, weight_decay 0.01
w = init(6, 2).requires_grad_()
opt = torch.optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
for t in range(3):
    w.grad = grads(t, 6)
    opt.step()
show("sgd nesterov w", w.detach())

# SGD, heavy ball with dampening 0.25: lr 0.05, momentum 0.8
w = init(6, 2).requires_grad_()
opt = torch.optim.SGD([w], lr=0.05, momentum=0.8, dampening=0.25)
for t in range(3):
    w.grad = grads(t, 6)
    opt.step()
show("sgd dampening w", w.detach())
