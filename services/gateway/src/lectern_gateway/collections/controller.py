"""``/v1/collections``: create, list, describe and delete collections (scope ``admin``)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import JSONBody, PathParameter
from litestar.status_codes import HTTP_200_OK, HTTP_201_CREATED
from pydantic import BaseModel, ConfigDict

from lectern.contracts import COLLECTION_PATTERN, CollectionInfo, CollectionName
from lectern_gateway.backends import Backends
from lectern_gateway.collections import service

PathCollection = Annotated[
    str,
    PathParameter(
        description="the collection's name",
        schema_extra={"pattern": COLLECTION_PATTERN, "minLength": 1, "maxLength": 63},
    ),
]


class CreateCollectionBody(BaseModel):
    """``POST /v1/collections``: the name of the new collection."""

    model_config = ConfigDict(extra="forbid", strict=True)

    name: CollectionName


class CollectionListBody(BaseModel):
    """Every collection the key may use, by name, with its document and chunk counts."""

    collections: list[CollectionInfo]
    request_id: str


class CollectionDeletedBody(BaseModel):
    """A deleted collection as it was, and the points (chunks, tombstones) removed."""

    collection: CollectionInfo
    deleted_points: int
    request_id: str


class CollectionController(Controller):
    """Collections are named knowledge bases; ``default`` always exists."""

    path = "/collections"
    tags = ["collections"]
    opt = {"scope": "admin"}

    @post("/", status_code=HTTP_201_CREATED, summary="Create a collection")
    async def create_collection(
        self,
        data: JSONBody[CreateCollectionBody],
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> CollectionInfo:
        """Register a collection; ``409`` when it exists, ``403`` when the key may not use it."""
        return await service.create(backends, data.name, request.state.request_id)

    @get("/", summary="List collections")
    async def list_collections(
        self, backends: NamedDependency[Backends], request: Request[Any, Any, Any]
    ) -> CollectionListBody:
        """The collections the key may use, with document and chunk counts."""
        request_id = request.state.request_id
        found = await service.list_all(backends, request_id)
        return CollectionListBody(collections=found, request_id=request_id)

    @get("/{name:str}", summary="A collection and its counts")
    async def get_collection(
        self,
        name: PathCollection,
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> CollectionInfo:
        """One collection; ``404`` when unknown."""
        return await service.describe(backends, name, request.state.request_id)

    @delete("/{name:str}", status_code=HTTP_200_OK, summary="Delete a collection and its chunks")
    async def delete_collection(
        self,
        name: PathCollection,
        backends: NamedDependency[Backends],
        request: Request[Any, Any, Any],
    ) -> CollectionDeletedBody:
        """Remove the collection and every chunk in it; ``409`` for ``default``.

        Its event history stays until retention; ``404`` when unknown.
        """
        request_id = request.state.request_id
        info, deleted = await service.delete(backends, name, request_id)
        return CollectionDeletedBody(collection=info, deleted_points=deleted, request_id=request_id)
