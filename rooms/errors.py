"""Refusals a room service can answer with. The consumer turns them into `error` frames."""


class RoomError(Exception):
    """A refusal: `code` is stable (docs/protocol.md lists them), `message` is for people."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"RoomError({self.code!r}, {self.message!r})"
