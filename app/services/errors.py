"""The one kind of refusal: the rules say no, nothing was saved, and here is why.

Every service raises a subclass of Refusal with a message staff can read in
their own language (a lazy string, translated when shown) and, when the
refusal is about one form field, that field's name. Views catch Refusal and
show `message`; jobs and commands print it. Anything that is not a Refusal is
a bug and is allowed to surface as one.
"""


class Refusal(ValueError):
    """The rules refuse this; `message` is shown to staff and nothing was saved."""

    def __init__(self, message, field=None):
        super().__init__(str(message))
        self.message = message
        self.field = field
