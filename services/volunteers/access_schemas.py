"""Volunteers' HTTP shapes of who may act where: communities (with their
districts and cities) and the coordinators scoped to them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, Field, field_validator, model_validator

from .areas import boundary_problems
from .schemas import Strict, optional_phone, zone

CODE = r"^[a-z0-9][a-z0-9-]{0,63}$"
Level = Literal["city", "district", "community"]


class CommunityFields(Strict):
    level: Level
    parent: str | None = Field(None, pattern=CODE, description="Code of the district or city above it")
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(min_length=1, max_length=100)
    timezone: str = Field("Asia/Shanghai", description="IANA time zone")
    boundary: dict | None = Field(None, description="GeoJSON Polygon or MultiPolygon (lon, lat); "
                                  "required for a community")
    hotline: str | None = Field(None, max_length=30, description="E.164")
    status: Literal["active", "retired"] = "active"

    _hotline = field_validator("hotline")(optional_phone)

    @field_validator("timezone")
    @classmethod
    def _tz(cls, name: str) -> str:
        return zone(name)

    @field_validator("boundary")
    @classmethod
    def _boundary(cls, boundary: dict | None) -> dict | None:
        if boundary is not None and (problems := boundary_problems(boundary)):
            raise ValueError("; ".join(problems))
        return boundary

    @model_validator(mode="after")
    def _shape(self) -> CommunityFields:
        if self.level == "community" and self.boundary is None:
            raise ValueError("a community needs a boundary")
        if self.level != "city" and self.parent is None:
            raise ValueError(f"a {self.level} needs a parent")
        return self


class CommunityIn(CommunityFields):
    code: str = Field(pattern=CODE, description="Stable code, e.g. wuhan-jianghan-01")


class CommunityOut(BaseModel):
    code: str
    version: int
    level: str
    parent: str | None
    name_zh: str
    name_en: str
    timezone: str
    boundary: dict | None
    hotline: str | None
    status: str
    created_at: datetime
    updated_at: datetime


# --- coordinators -------------------------------------------------------------


class CoordinatorIn(Strict):
    name: str = Field(min_length=1, max_length=100)
    phone: str | None = Field(None, max_length=30)
    role: Literal["coordinator"] = Field("coordinator", description="Coordinators only: the admin token is the "
                                         "only admin")
    communities: list[str] = Field(min_length=1, max_length=500, description="Existing communities, districts "
                                   "or cities; a district or city covers everything below it")

    _phone = field_validator("phone")(optional_phone)


class CoordinatorOut(BaseModel):
    id: UUID
    name: str
    phone: str | None
    role: str
    communities: list[str]
    created_at: datetime


class CoordinatorTokenOut(CoordinatorOut):
    token: str
    token_expires_at: datetime


class RevokedOut(BaseModel):
    coordinator_id: UUID
    revoked: int
