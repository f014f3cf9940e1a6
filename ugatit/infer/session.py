"""Objects that own a TensorFlow session of their own (the Translator, the Inception features)."""


class OwnsSession(object):
    """A mixin: `with obj:` closes obj.session at the end of the block; obj.close() does too."""

    session = None

    def close(self):
        if self.session is not None:
            self.session.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
