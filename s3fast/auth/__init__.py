"""Credentials (the standard AWS chain, through aiobotocore) and SigV4 signing (awscrt)."""
from ._credentials import CredentialSource, Credentials
from ._signer import Signer

__all__ = ["CredentialSource", "Credentials", "Signer"]
