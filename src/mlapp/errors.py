"""Errors that mean "the user must fix something": the CLI prints them without a traceback."""


class UserError(Exception):
    pass


class ParamsError(UserError, ValueError):
    """params.yaml is missing or does not match the expected structure."""


class TrackingUnavailable(UserError, RuntimeError):
    """The MLflow tracking server does not answer."""


def storage_errors() -> tuple[type[Exception], ...]:
    """What reading a path or URL raises when the file, network, endpoint or credentials fail:
    OSError, and for s3:// botocore's own errors (no credentials, endpoint unreachable), which
    are not OSErrors. A reader turns them into one line naming the source."""
    try:
        from botocore.exceptions import BotoCoreError  # type: ignore[import-untyped]
    except ImportError:  # no S3 support installed
        return (OSError,)
    return (OSError, BotoCoreError)
