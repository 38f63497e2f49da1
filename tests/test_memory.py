"""minidl.memory: the ledger counts exactly the arrays each op keeps, once each, and the peak of
a backward pass follows the order in which backward frees them."""
import weakref

import numpy as np

import minidl
import minidl.functional as F
from minidl import Function, Tensor, nn
from minidl.graph import functions_in_forward_order, tensors_in_forward_order
from minidl.memory import by_stage, graph_memory, ledger, owner, stage_outputs
from minidl.transfer import freeze


class SavesOutputThrice(Function):
    """Saves its output as an attribute, inside a tuple with a view of it, and in a dict."""
    def forward(self, x):
        y = x * 2
        self.y, self.again, self.meta = y, (y, [y[::2]]), {"t": y.T}
        return y

    def backward(self, g): return (2 * g,)


class SavesInput(Function):
    def forward(self, x):
        self.x, self.shape = x, x.shape
        return x * x

    def backward(self, g): return (2 * self.x * g,)


class SavesScratch(Function):
    """Keeps a private float64 array of 10 numbers beside its output."""
    def forward(self, x):
        self.scratch = np.zeros(10)
        return x + 1

    def backward(self, g): return (g,)


class SavesNothing(Function):
    def forward(self, x, y=None):
        return x + 1 if y is None else x + y

    def backward(self, g): return (g, g)


def test_owner_follows_views_to_the_array_that_holds_the_memory():
    y = np.zeros((4, 3), np.float32)
    assert owner(y) is y and owner(y[::2].T) is y and owner(y.reshape(-1)[1:]) is y


def test_each_kept_buffer_is_counted_once_and_matches_a_hand_count():
    w = Tensor(np.ones((4, 3), np.float32), requires_grad=True)    # a leaf: 48 bytes
    a = SavesOutputThrice.apply(w)     # saves a.data (48 B) four ways: counted once
    b = SavesNothing.apply(a)          # its input a.data is already counted
    c = SavesInput.apply(b)            # saves b.data: 48 B
    d = SavesNothing.apply(c)          # holds c.data as an input, unsaved: 48 B
    e = SavesInput.apply(a)            # saves a.data again: already counted
    root = SavesNothing.apply(d, e)    # holds d.data and e.data: 96 B
    book = ledger(root)
    assert (book.leaf_arrays, book.leaf_bytes) == (1, 48)
    assert [(r.op, r.saved_bytes, r.input_bytes) for r in book.ops] == [
        ("SavesOutputThrice", 48, 0), ("SavesNothing", 0, 0), ("SavesInput", 48, 0),
        ("SavesNothing", 0, 48), ("SavesInput", 0, 0), ("SavesNothing", 0, 96)]
    assert [(s.name, s.shape, s.dtype) for s in book.ops[0].saved] == [("y", (4, 3), "float32")]
    assert book.total_bytes == 240
    mem = graph_memory(root)
    assert mem["leaves"] == {"arrays": 1, "bytes": 48} and mem["total_bytes"] == 240
    assert mem["by_op"] == {
        "SavesOutputThrice": {"functions": 1, "saved_arrays": 1, "saved_bytes": 48, "input_arrays": 0, "input_bytes": 0},
        "SavesNothing": {"functions": 3, "saved_arrays": 0, "saved_bytes": 0, "input_arrays": 3, "input_bytes": 144},
        "SavesInput": {"functions": 2, "saved_arrays": 1, "saved_bytes": 48, "input_arrays": 0, "input_bytes": 0}}


def test_functions_come_in_forward_order_each_once():
    x = Tensor(np.ones(3, np.float32), requires_grad=True)
    a = SavesInput.apply(x)
    b = SavesNothing.apply(a)
    root = SavesNothing.apply(b, a)      # a is reached twice
    assert functions_in_forward_order(root) == [a._ctx, b._ctx, root._ctx]
    assert [r.position for r in ledger(root).ops] == [0, 1, 2]


def test_each_ops_saved_bytes_are_the_arrays_on_it_not_counted_before():
    """A lab-style stack: conv -> batch norm -> ReLU -> max-pool -> linear -> cross-entropy. Row
    by row the ledger equals the buffers on the Function's attributes that neither a leaf nor an
    earlier op already owns."""
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(4 * 4 * 4, 3))
    x = Tensor(np.random.default_rng(0).standard_normal((5, 1, 8, 8)).astype(np.float32))
    loss = F.cross_entropy(model(x), np.array([0, 1, 2, 0, 1]))
    book = ledger(loss)
    fns = functions_in_forward_order(loss)
    counted = {id(owner(t.data)) for fn in fns for t in fn.inputs if t is not None and t._ctx is None}
    params = {id(p) for p in model.parameters()}
    constants = {id(owner(t.data)): owner(t.data).nbytes for t in tensors_in_forward_order(loss)
                 if t._ctx is None and id(t) not in params and t is not x}       # labels, numbers
    assert book.leaf_bytes == sum(p.data.nbytes for p in model.parameters()) + x.data.nbytes + sum(constants.values())
    for fn, row in zip(fns, book.ops):
        new = {id(owner(a)): owner(a).nbytes for a in _arrays(vars(fn)) if id(owner(a)) not in counted}
        assert row.op == type(fn).__name__ and row.saved_bytes == sum(new.values())
        counted |= set(new)
    assert {"BatchNorm", "ReLU", "MaxPool2d"} <= {r.op for r in book.ops if r.saved_bytes > 0}


def _arrays(attrs):
    for name, v in attrs.items():
        if name in ("inputs", "needs_input_grad"):
            continue
        if isinstance(v, dict):
            v = list(v.values())
        for a in (v if isinstance(v, (tuple, list)) else [v]):
            if isinstance(a, np.ndarray):
                yield a


def test_the_backward_peak_of_a_chain_by_hand():
    """x (leaf, 80 B) -> a = SavesScratch(x) (keeps 80 B scratch) -> b = SavesInput(a) -> root.
    The caller holds only root: b, which no op saves, is gone; a lives on in b's op. Held after
    the forward pass: root's data, the scratch and a (3 x 80 B). Running root's op (SavesNothing):
    grads of root and b in flight, 160 B -> 400. Running b's op: grads b and a: the same; then
    b's op is freed and a with it. Running a's op: 160 + grads a, x. So 400 bytes."""
    x = Tensor(np.ones(10), requires_grad=True)
    root = SavesNothing.apply(SavesInput.apply(SavesScratch.apply(x)))
    book = ledger(root)
    assert [(r.op, r.saved_bytes) for r in book.ops] == [("SavesScratch", 80), ("SavesInput", 80),
                                                         ("SavesNothing", 0)]
    assert book.total_bytes == 80 + 80          # the scratch and a (saved by b's op); b is freed
    assert book.peak_backward_bytes == 3 * 80 + 2 * 80


def test_a_tensor_the_caller_holds_is_counted_as_an_input_and_freed_when_dropped():
    """The graph keeps an op's output only while the caller does: held, b (root's input, saved
    by no op) counts 80 B; dropped, it is freed and the ledger no longer counts it."""
    x = Tensor(np.ones(10), requires_grad=True)
    b = SavesNothing.apply(x, None)
    root = SavesNothing.apply(b, None)
    assert ledger(root).total_bytes == 80 and ledger(root).ops[1].input_bytes == 80
    probe = weakref.ref(b.data)
    del b
    assert probe() is None and ledger(root).total_bytes == 0
    root.backward(np.ones(10))
    np.testing.assert_array_equal(x.grad, np.ones(10))     # the gradient still flows through b


def test_a_fan_out_holds_both_branch_gradients():
    """root = SavesNothing(b1, b2) with b1, b2 = SavesNothing(a) each, the caller holding a and
    root: running root's op holds root's grad and the two new ones; then b2's op: b1 and b2
    still pending plus a's new one."""
    x = Tensor(np.ones(10), requires_grad=True)
    a = SavesNothing.apply(x)
    root = SavesNothing.apply(SavesNothing.apply(a), SavesNothing.apply(a))
    data = 2 * 80                                   # a and root: b1, b2 are not held
    assert ledger(root).peak_backward_bytes == data + 3 * 80


def test_frozen_stages_keep_nothing_and_the_stages_split_the_ledger():
    minidl.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 2),
                          nn.ReLU())
    x = Tensor(np.ones((2, 1, 4, 4), np.float32))
    full = ledger(model(x).sum())
    freeze(model, names=["0"])
    with stage_outputs(model, ["0", "1", "3"]) as outputs:
        frozen_loss = model(x).sum()
    frozen = ledger(frozen_loss)
    assert outputs["0"]._ctx is None                    # nothing recorded inside the frozen conv
    assert "Conv2d" in [r.op for r in full.ops] and "Conv2d" not in [r.op for r in frozen.ops]
    assert 0 < frozen.total_bytes < full.total_bytes
    stages = by_stage(frozen_loss, outputs)
    # the ReLU after the frozen conv has no input that needs a gradient either: not recorded
    assert list(stages) == ["0", "1", "3", "after"] and stages["0"] == stages["1"] == 0
    # the head's product on a constant input keeps only leaves (that input and the weight)
    assert stages["3"] == ledger(outputs["3"]).total_bytes == 0 < stages["after"]
    assert sum(stages.values()) == frozen.total_bytes
