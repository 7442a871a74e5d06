"""Credentials from the standard AWS chain, resolved through aiobotocore.

The chain (environment, shared config/credentials files and profiles, SSO, web
identity, container and instance metadata) is botocore's, used as is: writing our own
would only get it subtly wrong. aiobotocore makes the network-bound providers (IMDS,
container, STS) async, so a refresh never blocks the event loop.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import Any

from .._errors import ConfigError, CredentialsError, printable

#: Re-read refreshable credentials this often (botocore refreshes them ahead of expiry).
_RECHECK_SECONDS = 60.0


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    token: str | None = None

    def __repr__(self) -> str:  # never print secrets
        return f"Credentials(access_key={self.access_key[:4]}..., token={'yes' if self.token else 'no'})"


def _checked(creds: Credentials, names: tuple[str, str, str]) -> Credentials:
    """``creds`` if each part is visible ASCII (every key, secret and token AWS issues is),
    else a CredentialsError naming where the bad part came from (``names``: the access key's,
    the secret's and the token's source) and never showing the value: a stray newline from
    ``$(cat keyfile)`` would otherwise surface as a refused 'authorization' header."""
    for value, name in zip((creds.access_key, creds.secret_key, creds.token or ""), names):
        bad = next((ch for ch in value if not "!" <= ch <= "~"), None)
        if bad is not None:
            what = "a newline" if bad in "\r\n" else "a space" if bad == " " else "a character that is not visible ASCII"
            raise CredentialsError(f"{name} contains {what} (at position {value.index(bad) + 1});"
                                   " AWS credentials are visible ASCII only")
    return creds


def _config_file_error(exc: Any) -> ConfigError:
    """One line naming the shared config or credentials file botocore could not parse."""
    path = exc.kwargs.get("path", "") if isinstance(getattr(exc, "kwargs", None), dict) else ""
    detail = str(exc.kwargs.get("error", "")).splitlines()[0] if path else str(exc)
    return ConfigError(f"cannot parse the AWS config file {printable(path)}: {printable(detail)}")


def _files() -> tuple[str, str]:
    """The shared config and credentials files botocore reads."""
    return (os.path.expanduser(os.environ.get("AWS_CONFIG_FILE") or "~/.aws/config"),
            os.path.expanduser(os.environ.get("AWS_SHARED_CREDENTIALS_FILE") or "~/.aws/credentials"))


class CredentialSource:
    """Where the client's credentials come from.

    Explicit keys win; ``anonymous=True`` signs nothing; otherwise botocore's chain
    for ``profile`` (or ``AWS_PROFILE``) decides.
    """

    def __init__(
        self,
        *,
        profile: str | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        token: str | None = None,
        anonymous: bool = False,
    ) -> None:
        self.profile = profile
        self.anonymous = anonymous
        self._static: Credentials | None = None
        if access_key or secret_key:
            if not (access_key and secret_key):
                raise CredentialsError("both an access key and a secret key are needed")
            self._static = _checked(Credentials(access_key, secret_key, token),
                                    ("aws_access_key_id", "aws_secret_access_key", "aws_session_token"))
        # aiobotocore/botocore ship no types: their session and credential objects are Any.
        self._session: Any = None
        self._chain: Any = None
        self._current: Credentials | None = None
        self._checked = 0.0

    def __repr__(self) -> str:
        kind = "anonymous" if self.anonymous else "static" if self._static else f"chain(profile={self.profile})"
        return f"<CredentialSource {kind}>"

    def _from_env(self) -> Credentials | None:
        """AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (/ AWS_SESSION_TOKEN): botocore's chain
        takes these first whatever the profile files say, unless a profile is named."""
        if self.profile is not None or os.environ.get("AWS_PROFILE"):
            return None
        key = os.environ.get("AWS_ACCESS_KEY_ID")
        secret = os.environ.get("AWS_SECRET_ACCESS_KEY")
        if key and secret:
            token_var = "AWS_SESSION_TOKEN" if os.environ.get("AWS_SESSION_TOKEN") else "AWS_SECURITY_TOKEN"
            return _checked(Credentials(key, secret, os.environ.get(token_var) or None),
                            ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", token_var))
        return None

    def _get_session(self) -> Any:
        if self._session is None:
            from aiobotocore.session import AioSession
            from botocore.exceptions import ConfigParseError, ProfileNotFound

            try:
                session = AioSession(profile=self.profile)
                session.get_scoped_config()  # raises now for a missing profile or a broken file
            except ProfileNotFound as exc:
                raise CredentialsError(f"AWS profile not found: {exc.kwargs.get('profile', self.profile)}") from None
            except ConfigParseError as exc:
                raise _config_file_error(exc) from None
            self._session = session
        return self._session

    def region(self) -> str | None:
        """The region the chain's configuration names (env or profile), if any."""
        env = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
        if env:
            return env
        if self._static is not None and self.profile is None:
            return None
        if self.profile is None and not os.environ.get("AWS_PROFILE") and not any(map(os.path.exists, _files())):
            # Without a config or credentials file (botocore merges both into its profiles)
            # it has nowhere else to find a region: answer None as it would, without
            # importing it (~0.1-0.3 CPU-s of start-up).
            return None
        try:
            region: str | None = self._get_session().get_config_variable("region")
            return region
        except (CredentialsError, ConfigError):
            raise
        except Exception:
            return None

    def peek(self) -> tuple[bool, Credentials | None]:
        """``(True, what get() would return)`` when that needs no lookup (anonymous, static
        keys, or a recent answer); ``(False, None)`` when :meth:`get` must be awaited. Every
        request asks, so the common case costs no coroutine."""
        if self.anonymous:
            return True, None
        if self._static is not None:
            return True, self._static
        if self._current is not None and time.monotonic() - self._checked < _RECHECK_SECONDS:
            return True, self._current
        return False, None

    async def get(self) -> Credentials | None:
        """Current credentials, or None for anonymous requests."""
        known, creds = self.peek()
        if known:
            return creds
        now = time.monotonic()
        env = self._from_env()
        if env is not None:
            # The chain's first link, read without loading botocore (~0.3 s of start-up).
            self._current, self._checked = env, now
            return env
        from botocore.exceptions import BotoCoreError, ConfigParseError

        try:
            if self._chain is None:
                self._chain = await self._get_session().get_credentials()
            if self._chain is None:
                raise CredentialsError(
                    "no AWS credentials found (set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, "
                    "use --profile, or --no-sign-request for public buckets)"
                )
            frozen = await self._chain.get_frozen_credentials()
        except (CredentialsError, ConfigError):
            raise
        except ConfigParseError as exc:
            raise _config_file_error(exc) from None
        except BotoCoreError as exc:
            raise CredentialsError(f"cannot load AWS credentials: {printable(exc)}") from None
        if not frozen.access_key or not frozen.secret_key:
            raise CredentialsError("AWS credentials are incomplete (access key or secret key missing)")
        where = f"the AWS credentials of profile {self.profile or os.environ.get('AWS_PROFILE') or 'default'}" \
                f" (from {getattr(self._chain, 'method', None) or 'the credential chain'})"
        self._current = _checked(Credentials(frozen.access_key, frozen.secret_key, frozen.token),
                                 (f"the access key of {where}", f"the secret key of {where}",
                                  f"the session token of {where}"))
        self._checked = now
        return self._current
