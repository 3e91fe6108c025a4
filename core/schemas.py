"""Schemas shared by every API router: the error body."""

from ninja import Field, Schema


class ErrorDetail(Schema):
    code: str = Field(..., description="Machine-readable error code.", examples=["version_exists"])
    message: str = Field(..., description="What went wrong, for people.",
                         examples=["ssh.exec@1.0.0 is already published with other bytes"])
    suggestion: str = Field(..., description="The next call that would work, for agents.",
                            examples=["Published versions are immutable: publish under a new version number."])
    details: dict | None = Field(None, description="Structured context (e.g. existing versions).")


class ErrorOut(Schema):
    error: ErrorDetail = Field(..., description="The error.")


def errors(*statuses: int) -> dict:
    return {status: ErrorOut for status in statuses}
