"""The boto3 session: the standard credential chain, static keys from the settings, and an optional
role to assume with credentials that refresh themselves.

Role assumption uses botocore's own pieces, the ones boto3 uses for ``role_arn`` in a profile:
:class:`AssumeRoleCredentialFetcher` calls STS AssumeRole with the base session's credentials and
caches the answer until shortly before it expires; :class:`DeferredRefreshableCredentials` calls it
on first use (not when the session is built, so nothing reaches STS before the first Bedrock call)
and again whenever the credentials are about to expire. The refreshable credentials are given to a
fresh botocore session through a :class:`CredentialResolver` of one provider — the public way to
plug a credential source into botocore — so every client of the session signs with them.
"""

from __future__ import annotations

from typing import Any

from genai_commons import MissingCredentialsError, PermissionDeniedError

from .errors import CREDENTIALS_ADVICE, PROVIDER, translate
from .settings import BedrockSettings


def base_session(settings: BedrockSettings) -> Any:
    """A boto3 session from the profile, region and static keys of the settings; anything not set
    comes from boto3's standard chain (environment, shared files, SSO, container or instance role)."""
    import boto3  # type: ignore[import-untyped]  # noqa: PLC0415

    kwargs: dict[str, str] = {}
    if settings.profile:
        kwargs["profile_name"] = settings.profile
    if settings.region:
        kwargs["region_name"] = settings.region
    if settings.access_key_id is not None and settings.secret_access_key is not None:
        kwargs["aws_access_key_id"] = settings.access_key_id.reveal()
        kwargs["aws_secret_access_key"] = settings.secret_access_key.reveal()
        if settings.session_token is not None:
            kwargs["aws_session_token"] = settings.session_token.reveal()
    return boto3.Session(**kwargs)


def assume_role_session(base: Any, settings: BedrockSettings, client_config: Any) -> Any:
    """A boto3 session whose credentials come from assuming ``settings.role_arn`` with ``base``'s
    credentials, refreshed before they expire."""
    import boto3  # noqa: PLC0415
    import botocore.session  # type: ignore[import-untyped]  # noqa: PLC0415
    from botocore.credentials import (  # type: ignore[import-untyped]  # noqa: PLC0415
        AssumeRoleCredentialFetcher,
        CredentialProvider,
        CredentialResolver,
        DeferredRefreshableCredentials,
    )

    role_arn = settings.role_arn
    assert role_arn is not None
    source = base.get_credentials()
    if source is None:
        raise MissingCredentialsError(
            f"assuming role {role_arn} needs AWS credentials to start from: {CREDENTIALS_ADVICE}"
        )
    region = base.region_name
    extra: dict[str, Any] = {"RoleSessionName": settings.role_session_name}
    if settings.external_id is not None:
        extra["ExternalId"] = settings.external_id.reveal()
    if settings.role_duration_seconds is not None:
        extra["DurationSeconds"] = settings.role_duration_seconds

    def sts_client(service: str, **kwargs: Any) -> Any:
        return base.client(service, region_name=region, config=client_config, **kwargs)

    fetcher = AssumeRoleCredentialFetcher(
        client_creator=sts_client, source_credentials=source, role_arn=role_arn, extra_args=extra
    )

    def refresh() -> dict[str, Any]:
        try:
            return fetcher.fetch_credentials()  # type: ignore[no-any-return]
        except Exception as exc:
            error = translate(exc, region=region)
            if error is None:
                raise
            if isinstance(error, PermissionDeniedError):
                error = PermissionDeniedError(
                    f"cannot assume role {role_arn}: {error.body or error}. Check that the role's trust policy "
                    "allows your identity and that it may call sts:AssumeRole",
                    provider=PROVIDER,
                    status=error.status,
                    code=error.code,
                    body=error.body,
                )
            raise error from exc

    credentials = DeferredRefreshableCredentials(refresh_using=refresh, method="assume-role")

    class AssumedRole(CredentialProvider):  # type: ignore[misc]
        METHOD = "assume-role"
        CANONICAL_NAME = "custom-genai-commons-assume-role"

        def load(self) -> Any:
            return credentials

    session = botocore.session.Session(profile=settings.profile)  # keep the profile's other settings
    session.register_component("credential_provider", CredentialResolver([AssumedRole()]))
    return boto3.Session(botocore_session=session, region_name=region)
