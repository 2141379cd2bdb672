"""Errors that mean "the user must fix something": the CLI prints them without a traceback."""


class UserError(Exception):
    pass


class ParamsError(UserError, ValueError):
    """params.yaml is missing or does not match the expected structure."""


class TrackingUnavailable(UserError, RuntimeError):
    """The MLflow tracking server does not answer."""
