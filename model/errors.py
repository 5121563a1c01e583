"""The package's errors, each named by its cause; every message says what was wrong and what to do."""


class ModelFolderError(ValueError):
    """A local folder holds no loadable model: it is missing, has no weights, or its config.json is broken."""


class ConfigError(ValueError):
    """A model's config.json lacks an argument that changes what the model computes."""


class HubError(RuntimeError):
    """A Hub operation failed: the repo, revision or file is not there, the token is refused, or the Hub is down."""
