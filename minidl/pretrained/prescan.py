"""A pass over a pickle's opcodes before it is unpickled, so that unpickling a checkpoint costs
memory and time in proportion to its bytes.

CPython's unpickler trusts the file in ways an allow-list of globals cannot stop: the memo is an
array as long as the largest index used (one ``LONG_BINPUT 2**28`` takes 2 GiB, CPython
gh-115952), a tuple nested 10^6 deep crashes the process when it is hashed as a dict key, and
containers shared through the memo expand exponentially when hashed or walked. This pass
simulates the unpickler's stack with a record per object -- its nesting depth and its expanded
size (how many objects a walk of it visits) -- and refuses, before anything is built:

* memo indices beyond the number of opcodes read so far (pickle numbers them 0, 1, 2, ...);
* nesting deeper than ``MAX_DEPTH``, or an expanded size above ``max(16 * bytes, 2**20)``;
* a container changed after it was put into another one, or put into itself (pickle fills a
  container before using it, so a cycle or late change means a crafted file);
* sets and the extension registry (no checkpoint holds them; a set hashes its members).
"""
from __future__ import annotations

import io
import pickletools

from .errors import CheckpointError

__all__ = ["MAX_DEPTH", "prescan"]

MAX_DEPTH = 100
_REFUSED = {"EMPTY_SET": "a Python set", "ADDITEMS": "a Python set", "FROZENSET": "a Python set",
            "EXT1": "the copyreg extension registry", "EXT2": "the copyreg extension registry",
            "EXT4": "the copyreg extension registry"}
_MUTATORS = {"APPEND", "APPENDS", "SETITEM", "SETITEMS", "BUILD"}
_PUTS = {"PUT", "BINPUT", "LONG_BINPUT"}
_GETS = {"GET", "BINGET", "LONG_BINGET"}
_MARK = object()


class _Node:
    """What the simulation knows of one unpickled object."""
    __slots__ = ("depth", "size", "sealed")

    def __init__(self, depth: int, size: int):
        self.depth, self.size, self.sealed = depth, size, False


def prescan(stream: io.BytesIO, what: str) -> None:
    """Read one pickle from ``stream`` (up to its STOP) and raise CheckpointError if
    unpickling it could cost more than its size warrants; ``what`` names it in messages."""
    start = stream.tell()
    length = stream.seek(0, io.SEEK_END) - start
    stream.seek(start)
    budget = max(16 * length, 1 << 20)
    stack: list = []
    memo: dict[int, _Node] = {}

    def fail(problem: str):
        raise CheckpointError(f"{what}: {problem}")

    def pop(count: int) -> list:
        if len(stack) < count or any(s is _MARK for s in stack[len(stack) - count:]):
            fail("malformed pickle (its stack runs out)")
        items = stack[len(stack) - count:]
        del stack[len(stack) - count:]
        return items

    def pop_mark() -> list:
        for i in range(len(stack) - 1, -1, -1):
            if stack[i] is _MARK:
                items = stack[i + 1:]
                del stack[i:]
                return items
        fail("malformed pickle (no mark on its stack)")

    def check(node: _Node) -> _Node:
        if node.depth > MAX_DEPTH:
            fail(f"object nested more than {MAX_DEPTH} deep")
        if node.size > budget:
            fail(f"objects shared through the memo expand to more than {budget} items, "
                 f"too many for a pickle of at most {length} bytes")
        return node

    try:
        ops = pickletools.genops(stream)
        for count, (opcode, arg, _) in enumerate(ops, start=1):
            name = opcode.name
            if name in _REFUSED:
                fail(f"the pickle builds {_REFUSED[name]} ({name}), which no checkpoint holds")
            if name in _PUTS or name == "MEMOIZE":
                index = len(memo) if name == "MEMOIZE" else arg
                if not 0 <= index < count:
                    fail(f"memo index {index} at opcode {count} (pickle numbers them from 0)")
                if not stack or stack[-1] is _MARK:
                    fail("malformed pickle (memoizing an empty stack)")
                memo[index] = stack[-1]
            elif name in _GETS:
                if arg not in memo:
                    fail(f"memo index {arg} read before it was written")
                stack.append(memo[arg])
            elif name == "MARK":
                stack.append(_MARK)
            elif name == "POP":
                stack.pop() if stack else fail("malformed pickle (POP on an empty stack)")
            elif name == "POP_MARK":
                pop_mark()
            elif name == "DUP":
                stack.extend(pop(1) * 2)
            elif name == "STOP":
                return
            elif name in _MUTATORS:
                if name in ("APPENDS", "SETITEMS"):
                    children = pop_mark()
                    target = pop(1)[0]
                else:
                    target, *children = pop({"APPEND": 2, "SETITEM": 3, "BUILD": 2}[name])
                if target.sealed:
                    fail(f"{name} changes an object already put into another one")
                if any(child is target for child in children):
                    fail(f"{name} puts an object into itself")
                for child in children:
                    child.sealed = True
                    target.size += child.size
                    target.depth = max(target.depth, child.depth + 1)
                stack.append(check(target))
            else:
                before = opcode.stack_before
                marked = pickletools.markobject in before
                children = pop_mark() if marked else pop(len(before))
                for child in children:
                    child.sealed = True
                for _ in opcode.stack_after:
                    node = _Node(1 + max((c.depth for c in children), default=-1),
                                 1 + sum(c.size for c in children))
                    stack.append(check(node))
        fail("pickle ends without STOP")
    except CheckpointError:
        raise
    except Exception as exc:   # genops: truncated or unknown opcodes, bad arguments
        raise CheckpointError(f"corrupt {what}: {type(exc).__name__}: {exc}") from None
