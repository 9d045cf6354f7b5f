"""Errors a learner can act on: each names the file or setting at fault and the fix.

The CLI turns any :class:`FtlabError` into one line on stderr and a non-zero exit, with no
traceback.
"""


class FtlabError(Exception):
    """Base class: the message is complete and meant for the learner."""


class DataError(FtlabError):
    """A data folder, file or CSV that cannot be used as it is."""


class OfflineError(FtlabError):
    """Something needs the network while ftlab is offline."""


class DownloadError(FtlabError):
    """A download failed or its checksum did not match."""


class ModelError(FtlabError):
    """A model file or backbone name that cannot be used."""
