"""Errors a user can cause with bad input. The CLI turns any of them into one line + exit 2."""


class UserInputError(ValueError):
    """Bad input (file, key, value, name). The message is one line naming the problem."""


class InfeasibleError(UserInputError):
    """A group of layers cannot be tiled onto the hardware at all."""


class DeadlockError(RuntimeError):
    """An instruction stream waits for a dependency token that can never arrive."""
